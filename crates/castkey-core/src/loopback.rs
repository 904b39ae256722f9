//! The loopback redirect listener (RFC 8252 §7.3) for headless sign-in.
//!
//! Binds 127.0.0.1 on a free port for one sign-in. Requests that are not the
//! callback, or whose redirect is refused (a forged `state`), get an error
//! page and the listener keeps waiting for the real one.

use crate::error::CoreError;
use castkey_ipc::AccountInfo;
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    port: u16,
}

impl LoopbackListener {
    pub async fn bind() -> Result<Self, CoreError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| CoreError::Internal(format!("could not open a loopback port: {e}")))?;
        let port = listener.local_addr().map_err(|e| CoreError::Internal(e.to_string()))?.port();
        Ok(LoopbackListener { listener, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until a redirect completes a sign-in (either way) or `ttl`
    /// runs out. `complete` takes the redirect URL as received and answers
    /// the sign-in's outcome.
    pub async fn serve<F, Fut>(&self, ttl: Duration, complete: F) -> Result<AccountInfo, CoreError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<AccountInfo, CoreError>>,
    {
        let deadline = tokio::time::Instant::now() + ttl;
        loop {
            let accepted = tokio::time::timeout_at(deadline, self.listener.accept()).await;
            let (stream, _) = match accepted {
                Err(_) => return Err(crate::redirect::RedirectError::Expired.into()),
                Ok(Err(e)) => return Err(CoreError::Internal(e.to_string())),
                Ok(Ok(s)) => s,
            };
            if let Some(result) = self.handle(stream, &complete).await {
                return result;
            }
        }
    }

    async fn handle<F, Fut>(
        &self,
        mut stream: TcpStream,
        complete: &F,
    ) -> Option<Result<AccountInfo, CoreError>>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<AccountInfo, CoreError>>,
    {
        let target = match read_request_target(&mut stream).await {
            Some(t) => t,
            None => {
                respond(&mut stream, 400, "Castkey could not read that request.").await;
                return None;
            }
        };
        if !target.starts_with("/callback") {
            respond(&mut stream, 404, "Nothing here: this port waits for a Castkey sign-in.").await;
            return None;
        }
        let url = format!("http://127.0.0.1:{}{}", self.port, target);
        let result = complete(url).await;
        match &result {
            Ok(a) => {
                let msg = format!("Signed in to Castkey as {}. You can close this tab.", a.display_name);
                respond(&mut stream, 200, &msg).await;
                Some(result)
            }
            Err(CoreError::Redirect(crate::redirect::RedirectError::UnknownState))
            | Err(CoreError::Redirect(crate::redirect::RedirectError::Malformed(_))) => {
                respond(
                    &mut stream,
                    400,
                    &format!(
                        "Castkey refused this redirect: {}",
                        result.as_ref().err().map(|e| e.to_string()).unwrap_or_default()
                    ),
                )
                .await;
                None
            }
            Err(e) => {
                respond(&mut stream, 400, &format!("Castkey could not sign you in: {e}")).await;
                Some(result)
            }
        }
    }
}

async fn read_request_target(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > 16 * 1024 {
            return None;
        }
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    (parts.next()? == "GET").then_some(())?;
    Some(parts.next()?.to_string())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn respond(stream: &mut TcpStream, status: u16, message: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>Castkey</title><body style=\"font-family:sans-serif\"><h1>Castkey</h1><p>{}</p></body>",
        escape(message)
    );
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}
