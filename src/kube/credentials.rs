//! Kubeconfig credentials checked and normalised the way kubectl treats them, before kube-rs sees
//! them: a `tokenFile` is read with surrounding whitespace trimmed (kubectl trims; kube-rs sends
//! the newline and the server rejects the header), and a client certificate that has expired or is
//! not yet valid is refused at start with its dates instead of a TLS alert from the server.

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use kube::config::Kubeconfig;

/// Replace a whitespace-padded `tokenFile` of `user` by the trimmed token. A file without padding
/// is left to kube-rs, which re-reads it as it rotates.
pub fn normalize_token_file(kc: &mut Kubeconfig, user: &str) {
    let Some(auth) = kc
        .auth_infos
        .iter_mut()
        .find(|a| a.name == user)
        .and_then(|a| a.auth_info.as_mut())
    else {
        return;
    };
    if auth.token.is_some() {
        return; // an inline token takes precedence, as in kubectl
    }
    let Some(path) = auth.token_file.clone() else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return; // kube-rs reports the unreadable file
    };
    let trimmed = text.trim();
    if trimmed.len() != text.len() && !trimmed.is_empty() {
        tracing::info!(%path, "tokenFile has surrounding whitespace; using its trimmed content");
        auth.token = Some(secrecy::SecretString::from(trimmed.to_string()));
        auth.token_file = None;
    }
}

/// An error when `user`'s client certificate is outside its validity period at `now`.
pub fn check_client_certificate(
    kc: &Kubeconfig,
    user: &str,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let Some(auth) = kc
        .auth_infos
        .iter()
        .find(|a| a.name == user)
        .and_then(|a| a.auth_info.as_ref())
    else {
        return Ok(());
    };
    let (pem, from) = if let Some(data) = &auth.client_certificate_data {
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data.trim()) else {
            return Ok(()); // kube-rs reports malformed data
        };
        (
            String::from_utf8_lossy(&bytes).into_owned(),
            "client-certificate-data".to_string(),
        )
    } else if let Some(path) = &auth.client_certificate {
        match std::fs::read_to_string(path) {
            Ok(t) => (t, path.clone()),
            Err(_) => return Ok(()),
        }
    } else {
        return Ok(());
    };
    let Some((not_before, not_after)) = pem_validity(&pem) else {
        return Ok(());
    };
    if now > not_after {
        return Err(format!(
            "the client certificate of user \"{user}\" ({from}) expired at {}; get a renewed kubeconfig",
            not_after.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    if now < not_before {
        return Err(format!(
            "the client certificate of user \"{user}\" ({from}) is not valid before {} (check the clock)",
            not_before.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    Ok(())
}

/// An error when the cluster's `certificate-authority-data` or file holds no PEM certificate
/// (kube-rs would silently trust no extra CA and fail later with an unrelated TLS error).
pub fn check_cluster_ca(kc: &Kubeconfig, cluster: &str) -> Result<(), String> {
    let Some(c) = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster)
        .and_then(|c| c.cluster.as_ref())
    else {
        return Ok(());
    };
    let (pem, from) = if let Some(data) = &c.certificate_authority_data {
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data.trim()) else {
            return Err(format!(
                "certificate-authority-data of cluster \"{cluster}\" is not base64"
            ));
        };
        (
            String::from_utf8_lossy(&bytes).into_owned(),
            "certificate-authority-data".to_string(),
        )
    } else if let Some(path) = &c.certificate_authority {
        match std::fs::read_to_string(path) {
            Ok(t) => (t, path.clone()),
            Err(_) => return Ok(()), // kube-rs names the unreadable file
        }
    } else {
        return Ok(());
    };
    if pem_validity(&pem).is_none() {
        return Err(format!(
            "the certificate authority of cluster \"{cluster}\" ({from}) holds no readable PEM certificate"
        ));
    }
    Ok(())
}

/// `(notBefore, notAfter)` of the first certificate in a PEM text.
pub fn pem_validity(pem: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = pem.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + pem[start..].find("-----END CERTIFICATE-----")?;
    let b64: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    der_validity(&der)
}

/// One DER element: (tag, content, rest).
fn der_next(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)? as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let content = b.get(header..header.checked_add(len)?)?;
    Some((tag, content, &b[header + len..]))
}

/// Certificate → tbsCertificate → [version] serial signature issuer validity.
fn der_validity(der: &[u8]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (0x30, cert, _) = der_next(der)? else {
        return None;
    };
    let (0x30, tbs, _) = der_next(cert)? else {
        return None;
    };
    let (tag, _, mut rest) = der_next(tbs)?;
    if tag == 0xa0 {
        rest = der_next(rest)?.2; // serial after the explicit version
    }
    rest = der_next(rest)?.2; // signature algorithm
    rest = der_next(rest)?.2; // issuer
    let (0x30, validity, _) = der_next(rest)? else {
        return None;
    };
    let (t1, nb, rest) = der_next(validity)?;
    let (t2, na, _) = der_next(rest)?;
    Some((der_time(t1, nb)?, der_time(t2, na)?))
}

fn der_time(tag: u8, v: &[u8]) -> Option<DateTime<Utc>> {
    let s = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i32 = s.get(0..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(0..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let n = |r: std::ops::Range<usize>| rest.get(r).and_then(|x| x.parse::<u32>().ok());
    let date = NaiveDate::from_ymd_opt(year, n(0..2)?, n(2..4)?)?;
    let t = date.and_hms_opt(n(4..6)?, n(6..8)?, n(8..10).unwrap_or(0))?;
    Some(t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> String {
        let mut p = rcgen::CertificateParams::new(vec!["me".to_string()]).unwrap();
        p.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        p.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = rcgen::KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn reads_the_validity_of_utc_and_generalized_times() {
        let (nb, na) = pem_validity(&cert((2020, 1, 2), (2021, 3, 4))).unwrap();
        assert_eq!(nb.to_rfc3339(), "2020-01-02T00:00:00+00:00");
        assert_eq!(na.to_rfc3339(), "2021-03-04T00:00:00+00:00");
        let (_, na) = pem_validity(&cert((2020, 1, 2), (2051, 1, 1))).unwrap();
        assert_eq!(na.to_rfc3339(), "2051-01-01T00:00:00+00:00");
        assert!(
            pem_validity("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").is_none()
        );
        assert!(der_validity(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
    }
}
