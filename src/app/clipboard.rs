//! The terminal's clipboard: OSC 52, written by the loop.

/// Put text on the terminal's clipboard.
pub(super) fn copy(text: &str) {
    use std::io::Write;
    let seq = osc52(text);
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(seq.as_bytes()).and_then(|_| out.flush()) {
        tracing::warn!(error = %e, "clipboard escape not written");
    }
}

/// The OSC 52 escape that asks the terminal to put `text` on the clipboard.
pub fn osc52(text: &str) -> String {
    use base64::Engine;
    format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}
