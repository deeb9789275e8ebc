//! HTTP/2 test parts: a recording backend that holds requests and notices when the proxy gives
//! them up, an `h2` client over TLS, and the rapid-reset client (paced or burst).
#![allow(clippy::unwrap_used)] // test helpers panic on purpose

use bytes::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A backend that answers `GET /hold/<ms>` after that many milliseconds, unless the
/// connection is closed first, and counts what it receives and holds.
pub struct Holding {
    pub addr: std::net::SocketAddr,
    pub received: Arc<AtomicUsize>,
    pub in_flight: Arc<AtomicUsize>,
    pub max_in_flight: Arc<AtomicUsize>,
}

impl Holding {
    pub async fn start() -> Holding {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let h = Holding {
            addr: listener.local_addr().unwrap(),
            received: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        };
        let (received, in_flight, max) = (
            h.received.clone(),
            h.in_flight.clone(),
            h.max_in_flight.clone(),
        );
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let (received, in_flight, max) = (received.clone(), in_flight.clone(), max.clone());
                tokio::spawn(serve(s, received, in_flight, max));
            }
        });
        h
    }
}

async fn serve(
    mut s: TcpStream,
    received: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
) {
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match s.read(&mut b).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&b[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        buf.drain(..head_end);
        let ms: u64 = head
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.strip_prefix("/hold/"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        received.fetch_add(1, Ordering::SeqCst);
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        max.fetch_max(now, Ordering::SeqCst);
        let answered = tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => true,
            _ = s.read(&mut b) => false, // the proxy closed (or sent more): given up
        };
        in_flight.fetch_sub(1, Ordering::SeqCst);
        if !answered {
            return;
        }
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        if s.write_all(ok).await.is_err() {
            return;
        }
    }
}

/// TLS to the listener with ALPN h2 only.
pub async fn tls(root_pem: &str, port: u16) -> tokio_rustls::client::TlsStream<TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("a.test").unwrap();
    let s = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    s
}

pub type Conn = tokio::task::JoinHandle<Result<(), h2::Error>>;

pub async fn h2_client(root_pem: &str, port: u16) -> (h2::client::SendRequest<Bytes>, Conn) {
    let (send, conn) = h2::client::handshake(tls(root_pem, port).await)
        .await
        .unwrap();
    (send, tokio::spawn(conn))
}

pub fn get(port: u16, path: &str) -> http::Request<()> {
    http::Request::get(format!("https://a.test:{port}{path}"))
        .body(())
        .unwrap()
}

/// Open `per_batch` streams on a new connection to `port`, wait (when `paced`) until `backend`
/// holds them, reset them; `batches` times or until the connection fails. The error that
/// ended the connection, `None` when it was still open 5 s after the flood.
pub async fn rapid_reset(
    root_pem: &str,
    port: u16,
    backend: &Holding,
    batches: usize,
    per_batch: usize,
    paced: bool,
) -> Option<h2::Error> {
    let (mut send, conn) = h2_client(root_pem, port).await;
    let b = backend;
    'flood: for _ in 0..batches {
        let before = b.received.load(Ordering::SeqCst);
        let mut streams = Vec::new();
        for _ in 0..per_batch {
            send = match send.ready().await {
                Ok(send) => send,
                Err(_) => break 'flood,
            };
            match send.send_request(get(port, "/hold/30000"), true) {
                Ok((_, stream)) => streams.push(stream),
                Err(_) => break 'flood,
            }
        }
        if paced {
            let want = before + streams.len();
            let t0 = Instant::now();
            while b.received.load(Ordering::SeqCst) < want
                && t0.elapsed() < Duration::from_secs(2)
                && !conn.is_finished()
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        for mut stream in streams {
            stream.send_reset(h2::Reason::CANCEL);
        }
    }
    match tokio::time::timeout(Duration::from_secs(5), conn).await {
        Ok(ended) => ended.expect("the connection task").err(),
        Err(_) => None,
    }
}
