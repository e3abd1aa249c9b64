//! Large answers decoded as they arrive: the bytes go chunk by chunk from the network to a decoder
//! on a blocking thread, so neither the answer's text nor a tree of it is ever held whole (a
//! 50,000-pod list is ~90 MB of JSON, a metrics list ~17 MB).

use std::io::Read;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Chunks of an answer in flight between the network and the decoder.
const IN_FLIGHT: usize = 16;

/// Run `decode` on a blocking thread over the bytes of `chunks` as they arrive; its result (`Err`
/// if it panicked), or the stream's error. A decoder that stops early (an error it reports) stops
/// the reading.
pub async fn decode<R, E>(
    mut chunks: impl Stream<Item = Result<Bytes, E>> + Unpin,
    decode: impl FnOnce(Chunks) -> R + Send + 'static,
) -> Result<Result<R, tokio::task::JoinError>, E>
where
    R: Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(IN_FLIGHT);
    let decoder = tokio::task::spawn_blocking(move || {
        decode(Chunks {
            rx,
            at: Bytes::new(),
        })
    });
    let mut failed = None;
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(data) => {
                if tx.send(data).await.is_err() {
                    break; // the decoder stopped
                }
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let decoded = decoder.await;
    // the answer's chunks and what decoding them took are gone: give their pages back
    crate::memory::release_freed();
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(decoded)
}

/// The answer's bytes as `Read`, fed by the network side.
pub struct Chunks {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    at: Bytes,
}

impl Chunks {
    /// `pieces`, as if they had arrived one by one (for tests).
    pub fn of(pieces: Vec<Bytes>) -> Chunks {
        let (tx, rx) = tokio::sync::mpsc::channel(pieces.len().max(1));
        for p in pieces {
            let _ = tx.try_send(p);
        }
        Chunks {
            rx,
            at: Bytes::new(),
        }
    }
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.at = b,
                None => return Ok(0), // the body ended
            }
        }
        let n = buf.len().min(self.at.len());
        buf[..n].copy_from_slice(&self.at[..n]);
        self.at = self.at.slice(n..);
        Ok(n)
    }
}

/// A list's `items`, each decoded as `T` and handed to `each` as soon as it is read (`null`: none).
pub struct EachItem<T, F> {
    each: F,
    item: std::marker::PhantomData<fn() -> T>,
}

impl<T, F> EachItem<T, F> {
    pub fn new(each: F) -> Self {
        EachItem {
            each,
            item: std::marker::PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> DeserializeSeed<'de> for EachItem<T, F> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> Visitor<'de> for EachItem<T, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the list's items")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(()) // `"items": null`
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<T>()? {
            (self.each)(item);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Err(serde::de::Error::custom("items is an object, not a list"))
    }
}
