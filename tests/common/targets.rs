//! Probe targets: an HTTPS server with a chosen certificate, a tiny DNS server answering A
//! queries for one name, and inline commands to a Redis.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A certificate: PEM of the leaf and its key.
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A self-signed certificate for `name`.
pub fn self_signed(name: &str) -> Pem {
    let c = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("self-signed");
    Pem {
        cert: c.cert.pem(),
        key: c.signing_key.serialize_pem(),
    }
}

/// A certificate for `name` signed by `ca`, valid until `days` from now.
pub fn expiring_in(ca: &super::tls::TestCa, name: &str, days: i64) -> Pem {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = ca.issue_until(
        &[name],
        dir.path(),
        "leaf",
        time::OffsetDateTime::now_utc() + time::Duration::days(days),
    );
    Pem {
        cert: std::fs::read_to_string(cert).expect("cert"),
        key: std::fs::read_to_string(key).expect("key"),
    }
}

/// An HTTPS server answering every request with 200 `ok`, until dropped.
pub struct TlsServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsServer {
    pub async fn start(pem: &Pem) -> TlsServer {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(pem.cert.as_bytes())
                .collect::<Result<_, _>>()
                .expect("certs");
        let key = PrivateKeyDer::from_pem_slice(pem.key.as_bytes()).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = [0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        TlsServer { addr, task }
    }
}

/// A DNS server on UDP answering `A` queries for `name` with `ip`, NXDOMAIN otherwise.
pub struct DnsServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsServer {
    pub async fn start(name: &str, ip: [u8; 4]) -> DnsServer {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = socket.local_addr().expect("addr");
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                if let Some(reply) = answer(&buf[..n], &name, ip) {
                    let _ = socket.send_to(&reply, peer).await;
                }
            }
        });
        DnsServer { addr, task }
    }
}

/// The reply to one query: the question echoed, one A record when it asks for `name`.
fn answer(q: &[u8], name: &str, ip: [u8; 4]) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    // Question: labels, then type and class.
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let question_end = i + 4;
    let matches = labels.join(".") == name && qtype == 1;
    let mut r = Vec::new();
    r.extend_from_slice(&q[0..2]); // id
    let rcode = if labels.join(".") == name { 0 } else { 3 };
    r.extend_from_slice(&[0x81, 0x80 | rcode]); // response, RD, RA
    r.extend_from_slice(&[0, 1]); // one question
    r.extend_from_slice(&[0, u8::from(matches)]); // answers
    r.extend_from_slice(&[0, 0, 0, 0]);
    // Ignore an EDNS OPT record in the query: echo only the question.
    r.extend_from_slice(q.get(12..question_end)?);
    if matches {
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&ip);
    }
    Some(r)
}

/// Send inline commands to a Redis on `port`, reading one reply line per command.
pub async fn redis_commands(port: u16, commands: &[&str]) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect redis");
    let mut buf = vec![0u8; 4096];
    for c in commands {
        s.write_all(format!("{c}\r\n").as_bytes())
            .await
            .expect("write");
        let n = s.read(&mut buf).await.expect("read");
        assert!(n > 0, "redis closed the connection after `{c}`");
    }
}
