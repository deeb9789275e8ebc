//! A TCP server that answers every connection with fixed bytes once the request head is read:
//! for peers that must misbehave in ways a real HTTP server will not (a slow or truncated
//! answer, garbage, a reset).

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server does with a connection after writing its answer.
#[derive(Debug, Clone, Copy)]
pub enum After {
    /// Close it.
    Close,
    /// Close it with a reset (SO_LINGER 0).
    Reset,
    /// Hold it open this long (a slow peer, unless the answer is complete).
    Hold(Duration),
}

/// Serve `answer` to every connection on a free loopback port, once the request head (up to
/// the blank line) is read.
pub async fn serve(answer: &'static [u8], after: After) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(answer).await;
                match after {
                    After::Close => {}
                    After::Reset => {
                        let _ = s.set_zero_linger();
                    }
                    After::Hold(d) => tokio::time::sleep(d).await,
                }
            });
        }
    });
    addr
}
