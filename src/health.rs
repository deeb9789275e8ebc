//! `gatehouse health`: asks a running gatehouse's admin listener whether it is ready
//! (`GET /readyz`) and exits 0 when it answers 200, 1 otherwise. It is what a container's
//! `HEALTHCHECK` runs, so the image needs no curl; a plain HTTP/1.1 request over std's
//! blocking socket, with one deadline for the whole exchange.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The admin listener's default address (`admin.listen`), and its readiness path.
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:9901/readyz";

pub(crate) fn health(url: &str, timeout: Duration) -> ExitCode {
    let target = match Target::parse(url) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gatehouse health: {e}");
            return ExitCode::from(2);
        }
    };
    match target.get(timeout) {
        Ok((200, body)) => {
            println!("{url}: 200 {}", body.trim());
            ExitCode::SUCCESS
        }
        Ok((status, body)) => {
            eprintln!("gatehouse health: {url}: {status} {}", body.trim());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("gatehouse health: {url}: {e}");
            ExitCode::from(1)
        }
    }
}

struct Target {
    /// `host:port` as written, for the connection and the `Host` header.
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "`{url}`: only http:// is supported (the admin listener speaks plain HTTP)"
            ));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("`{url}` names no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        Ok(Target {
            authority: format!("{}:{port}", authority.host()),
            path: uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".to_string()),
        })
    }

    /// The status code and (the start of) the body.
    fn get(&self, timeout: Duration) -> Result<(u16, String), String> {
        let deadline = Instant::now() + timeout;
        let left = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("no answer within {timeout:?}"))
        };
        let addr = self
            .authority
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.authority))?
            .next()
            .ok_or_else(|| format!("{} has no address", self.authority))?;
        let mut stream = TcpStream::connect_timeout(&addr, left()?)
            .map_err(|e| format!("cannot connect: {e}"))?;
        stream
            .set_write_timeout(Some(left()?))
            .map_err(|e| e.to_string())?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: gatehouse-health\r\nConnection: close\r\n\r\n",
            self.path, self.authority
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("cannot send the request: {e}"))?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        // Read until the peer closes (Connection: close), at most 64 KiB.
        while answer.len() < 64 << 10 {
            stream
                .set_read_timeout(Some(left()?))
                .map_err(|e| e.to_string())?;
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if answer.is_empty() => return Err(format!("no answer: {e}")),
                Err(_) => break,
            }
        }
        parse_answer(&answer)
    }
}

fn parse_answer(answer: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(answer);
    let status_line = text.lines().next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let status = match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => code.parse::<u16>().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("not an HTTP answer: `{}`", status_line.trim()))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.chars().take(200).collect())
        .unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_answers() {
        let t = Target::parse(DEFAULT_URL).expect("default");
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("127.0.0.1:9901", "/readyz")
        );
        let t = Target::parse("http://[::1]/readyz?x=1").expect("v6");
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("[::1]:80", "/readyz?x=1")
        );
        assert!(Target::parse("https://127.0.0.1:9901/readyz").is_err());
        assert_eq!(
            parse_answer(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\n\r\ndraining\n"
            ),
            Ok((503, "draining\n".to_string()))
        );
        assert!(parse_answer(b"SSH-2.0-OpenSSH\r\n").is_err());
    }
}
