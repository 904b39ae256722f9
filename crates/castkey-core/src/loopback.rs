//! The loopback redirect listener (RFC 8252 §7.3) for headless sign-in and
//! for providers that refuse custom schemes.
//!
//! Binds 127.0.0.1 for one sign-in, on a free port or on the provider's
//! fixed one (servers that match redirect URIs exactly, port included). Every
//! connection is read on its own task, so a browser's idle preconnection
//! cannot hold up the real request:
//! - on Linux, a connection whose peer socket belongs to another user (its
//!   entry in `/proc/net/tcp` or `/proc/net/tcp6`) is closed unanswered and
//!   logged: another local user who learns the port and `state` (from a
//!   process list, say) must not complete the sign-in with their own code.
//!   On other systems there is no such check (see [`peer_check`]);
//! - one request is read, headers included, within a whole-request deadline
//!   ([`READ_DEADLINE`]) and a size cap ([`MAX_HEAD_BYTES`]), else closed;
//! - another path than the redirect's gets 404, another method than GET 405;
//! - a redirect that is refused (a forged `state`) gets an error page and
//!   the listener keeps waiting for the real one.

use crate::error::CoreError;
use crate::provider::LoopbackRedirect;
use castkey_ipc::AccountInfo;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// How long one request may take to arrive, all its headers included.
pub const READ_DEADLINE: Duration = Duration::from_secs(10);
/// The largest request head read; a redirect is a few kilobytes at most.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Connections read at once; more are closed until one finishes.
const MAX_CONNECTIONS: usize = 32;

#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    port: u16,
    path: String,
    read_deadline: Duration,
}

impl LoopbackListener {
    /// Binds 127.0.0.1 on `redirect`'s fixed port, or on a free one. A
    /// fixed port in use is an error that names it.
    pub async fn bind(redirect: &LoopbackRedirect) -> Result<Self, CoreError> {
        let listener =
            TcpListener::bind(("127.0.0.1", redirect.port.unwrap_or(0))).await.map_err(|e| match redirect
                .port
            {
                Some(port) if e.kind() == std::io::ErrorKind::AddrInUse => CoreError::LoginFailed(format!(
                    "the loopback port {port} is in use by another program; close it, or fix another \
                     port for this provider (and register http://127.0.0.1:<port>{} at the provider)",
                    redirect.path
                )),
                Some(port) => {
                    CoreError::LoginFailed(format!("could not listen on loopback port {port}: {e}"))
                }
                None => CoreError::Internal(format!("could not open a loopback port: {e}")),
            })?;
        let port = listener.local_addr().map_err(|e| CoreError::Internal(e.to_string()))?.port();
        Ok(LoopbackListener { listener, port, path: redirect.path.clone(), read_deadline: READ_DEADLINE })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path the redirect comes back to (`/callback` unless configured).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The redirect URI: `http://127.0.0.1:<port><path>`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.path)
    }

    #[cfg(test)]
    fn with_read_deadline(mut self, deadline: Duration) -> Self {
        self.read_deadline = deadline;
        self
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
        // Dropped with the listener: reads still in flight are aborted.
        let mut reading = JoinSet::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(crate::redirect::RedirectError::Expired.into());
                }
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) if reading.len() < MAX_CONNECTIONS => {
                        reading.spawn(read_callback(stream, peer, self.path.clone(), self.read_deadline));
                    }
                    Ok((_, peer)) => tracing::warn!(%peer, "too many loopback connections at once; closed one"),
                    Err(e) if is_transient(&e) => tracing::debug!("loopback accept: {e}"),
                    Err(e) => return Err(CoreError::Internal(format!("the loopback listener failed: {e}"))),
                },
                Some(joined) = reading.join_next(), if !reading.is_empty() => {
                    if let Ok(Some((stream, target))) = joined {
                        if let Some(result) = self.complete(stream, &target, &complete).await {
                            return result;
                        }
                    }
                }
            }
        }
    }

    /// Hands a callback request to `complete` and answers the browser.
    /// `None`: the redirect was refused, keep waiting.
    async fn complete<F, Fut>(
        &self,
        mut stream: TcpStream,
        target: &str,
        complete: &F,
    ) -> Option<Result<AccountInfo, CoreError>>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<AccountInfo, CoreError>>,
    {
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

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted)
}

/// One connection: the peer check, then one request within the deadline.
/// Answers the stream and request target of a GET to `path`; anything else
/// is answered (or closed) here.
async fn read_callback(
    mut stream: TcpStream,
    peer: SocketAddr,
    path: String,
    deadline: Duration,
) -> Option<(TcpStream, String)> {
    let local = stream.local_addr().ok()?;
    if let Err(refused) = peer_check(local, peer).await {
        tracing::warn!(%peer, "refused a connection to the sign-in listener: {refused}");
        return None;
    }
    let head = match tokio::time::timeout(deadline, read_head(&mut stream)).await {
        Err(_) => {
            tracing::warn!(%peer, "closed a sign-in listener connection: no whole request within {deadline:?}");
            return None;
        }
        Ok(Err(HeadError::Closed)) => return None,
        Ok(Err(HeadError::TooLarge)) => {
            respond(&mut stream, 431, "That request is too large.").await;
            return None;
        }
        Ok(Ok(head)) => head,
    };
    match route(&head, &path) {
        Route::Callback(target) => Some((stream, target)),
        Route::Answer(status, message) => {
            respond(&mut stream, status, message).await;
            None
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// A GET to the redirect path: the request target, query included.
    Callback(String),
    Answer(u16, &'static str),
}

/// What to do with a request head: only `GET <path>[?query]` is a callback.
fn route(head: &str, path: &str) -> Route {
    let mut parts = head.lines().next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Route::Answer(400, "Castkey could not read that request.");
    };
    if !version.starts_with("HTTP/") || !target.starts_with('/') {
        return Route::Answer(400, "Castkey could not read that request.");
    }
    if target.split(['?', '#']).next() != Some(path) {
        return Route::Answer(404, "Nothing here: this port waits for a Castkey sign-in.");
    }
    if method != "GET" {
        return Route::Answer(405, "Castkey's sign-in redirect only answers GET.");
    }
    Route::Callback(target.to_string())
}

#[derive(Debug)]
enum HeadError {
    /// The peer closed (or broke) the connection before a request.
    Closed,
    TooLarge,
}

/// Reads up to the end of the request head (an empty line). The caller
/// bounds the time it takes.
async fn read_head(stream: &mut TcpStream) -> Result<String, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
        let n = stream.read(&mut chunk).await.map_err(|_| HeadError::Closed)?;
        if n == 0 {
            // A client that stopped writing without the empty line still
            // sent its request line.
            if buf.is_empty() {
                return Err(HeadError::Closed);
            }
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    if buf.len() > MAX_HEAD_BYTES {
        return Err(HeadError::TooLarge);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Why a connection was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PeerRefused {
    /// The peer's socket belongs to another user.
    OtherUser(u32),
    /// The peer's socket is in no table (it is gone, or in another network
    /// namespace): nothing tells whose it is.
    Unknown,
    /// The socket tables could not be read.
    Unreadable(String),
}

impl std::fmt::Display for PeerRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerRefused::OtherUser(uid) => write!(f, "it comes from another user (uid {uid})"),
            PeerRefused::Unknown => write!(f, "its socket's owner could not be found"),
            PeerRefused::Unreadable(e) => write!(f, "the socket tables could not be read ({e})"),
        }
    }
}

/// Whether the peer of a connection accepted on `local` is this user. On
/// Linux, its socket is looked up in `/proc/net/tcp` and `/proc/net/tcp6`
/// (whose `uid` column is the socket owner's); a connection whose owner
/// cannot be found is refused too.
#[cfg(target_os = "linux")]
async fn peer_check(local: SocketAddr, peer: SocketAddr) -> Result<(), PeerRefused> {
    let mut tables = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        match tokio::fs::read_to_string(file).await {
            Ok(t) => tables.push(t),
            // No IPv6 on this machine.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && file.ends_with('6') => {}
            Err(e) => return Err(PeerRefused::Unreadable(format!("{file}: {e}"))),
        }
    }
    let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
    check_peer(&tables, local, peer, castkey_ipc::socket::current_uid())
}

/// Elsewhere there is no check: macOS and Windows would need the owning
/// process of the peer socket (`proc_pidfdinfo`, `GetExtendedTcpTable`),
/// not written yet. What stands in the way of another local user there is
/// the sign-in's unguessable `state` and PKCE: a code issued for someone
/// else's request fails at the token endpoint with Castkey's verifier.
#[cfg(not(target_os = "linux"))]
async fn peer_check(_local: SocketAddr, _peer: SocketAddr) -> Result<(), PeerRefused> {
    Ok(())
}

/// Finds the peer's socket (its local address `peer`, its remote address
/// `listener`) in the `/proc/net/tcp*` `tables` and compares its owner with
/// `uid`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn check_peer(
    tables: &[&str],
    listener: SocketAddr,
    peer: SocketAddr,
    uid: u32,
) -> Result<(), PeerRefused> {
    match tables.iter().find_map(|t| socket_owner(t, peer, listener)) {
        Some(owner) if owner == uid => Ok(()),
        Some(owner) => Err(PeerRefused::OtherUser(owner)),
        None => Err(PeerRefused::Unknown),
    }
}

/// TCP state `TIME_WAIT` in `/proc/net/tcp`: a closed socket kept for a
/// while, listed with uid 0.
const TCP_TIME_WAIT: &str = "06";

/// The owner (uid) of the socket with local address `local` and remote
/// address `remote` in one `/proc/net/tcp` or `/proc/net/tcp6` table.
/// IPv4-mapped IPv6 addresses match their IPv4 form.
pub(crate) fn socket_owner(table: &str, local: SocketAddr, remote: SocketAddr) -> Option<u32> {
    let same =
        |a: SocketAddr, b: SocketAddr| a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical();
    table.lines().skip(1).find_map(|line| {
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid …
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || f[3] == TCP_TIME_WAIT {
            return None;
        }
        let (l, r) = (proc_address(f[1])?, proc_address(f[2])?);
        (same(l, local) && same(r, remote)).then(|| f[7].parse().ok()).flatten()
    })
}

/// `0100007F:1F90` → 127.0.0.1:8080. The kernel prints each 32-bit word of
/// the address as a number in its own byte order.
fn proc_address(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    for i in (0..addr.len()).step_by(8) {
        let word = u32::from_str_radix(addr.get(i..i + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => std::net::IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        16 => std::net::IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn respond(stream: &mut TcpStream, status: u16, message: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Bad Request",
    };
    let allow = if status == 405 { "Allow: GET\r\n" } else { "" };
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>Castkey</title><body style=\"font-family:sans-serif\"><h1>Castkey</h1><p>{}</p></body>",
        escape(message)
    );
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\n{allow}Content-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    fn account() -> AccountInfo {
        AccountInfo {
            id: "sandbox:alice".into(),
            provider: "sandbox".into(),
            display_name: "Alice".into(),
            email: None,
            active: true,
            scopes: Vec::new(),
            status: castkey_ipc::AccountStatus::SignedIn,
        }
    }

    type Seen = Arc<Mutex<Vec<String>>>;

    /// Serves `listener` in the background, completing every callback;
    /// answers the URLs `complete` saw and the outcome.
    fn serve(listener: LoopbackListener) -> (Seen, tokio::task::JoinHandle<Result<AccountInfo, CoreError>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let urls = seen.clone();
        let task = tokio::spawn(async move {
            listener
                .serve(Duration::from_secs(30), |url| {
                    urls.lock().unwrap().push(url);
                    async { Ok(account()) }
                })
                .await
        });
        (seen, task)
    }

    /// Sends `request` and answers the response's status line.
    async fn ask(port: u16, request: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out.lines().next().unwrap_or_default().to_string()
    }

    #[tokio::test]
    async fn a_callback_from_this_user_completes_the_sign_in() {
        let l = LoopbackListener::bind(&LoopbackRedirect::default()).await.unwrap();
        let port = l.port();
        assert_eq!(l.redirect_uri(), format!("http://127.0.0.1:{port}/callback"));
        let (seen, task) = serve(l);
        let status = ask(port, "GET /callback?code=c&state=s HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(task.await.unwrap().unwrap().display_name, "Alice");
        assert_eq!(*seen.lock().unwrap(), [format!("http://127.0.0.1:{port}/callback?code=c&state=s")]);
    }

    #[tokio::test]
    async fn another_path_is_404_another_method_405_and_the_listener_keeps_waiting() {
        let redirect = LoopbackRedirect::fixed(None, "/oauth/done").unwrap();
        let l = LoopbackListener::bind(&redirect).await.unwrap();
        let port = l.port();
        let (seen, task) = serve(l);
        for (request, status) in [
            ("GET /callback?code=c&state=s HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
            ("GET /oauth/done/../x?code=c HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
            ("GET /oauth/doneX?code=c HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
            ("GET /favicon.ico HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
            (
                "POST /oauth/done?code=c&state=s HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                "HTTP/1.1 405 Method Not Allowed",
            ),
            ("HEAD /oauth/done?code=c&state=s HTTP/1.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"),
            ("garbage\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        ] {
            assert_eq!(ask(port, request).await, status, "{request}");
        }
        let big = format!("GET /oauth/done?{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD_BYTES + 10));
        assert_eq!(ask(port, &big).await, "HTTP/1.1 431 Request Header Fields Too Large");
        assert!(seen.lock().unwrap().is_empty());
        assert!(!task.is_finished());
        let status = ask(port, "GET /oauth/done?code=c&state=s HTTP/1.1\r\n\r\n").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        task.await.unwrap().unwrap();
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_slowloris_is_cut_at_the_deadline_and_holds_up_no_one() {
        let l = LoopbackListener::bind(&LoopbackRedirect::default())
            .await
            .unwrap()
            .with_read_deadline(Duration::from_secs(2));
        let port = l.port();
        let (seen, task) = serve(l);
        let started = Instant::now();
        let slow = tokio::spawn(async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            // One byte a second, each read before the deadline would allow.
            for b in b"GET /callback?code=c&state=s HTTP/1.1\r\n".iter().take(10) {
                if s.write_all(&[*b]).await.is_err() {
                    return started.elapsed();
                }
                let mut probe = [0u8; 1];
                if tokio::time::timeout(Duration::from_secs(1), s.read(&mut probe)).await.is_ok() {
                    return started.elapsed();
                }
            }
            panic!("the slow connection was never closed");
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Meanwhile other connections are answered at once.
        let asked = Instant::now();
        assert_eq!(ask(port, "GET /favicon.ico HTTP/1.1\r\n\r\n").await, "HTTP/1.1 404 Not Found");
        assert!(asked.elapsed() < Duration::from_secs(1), "{:?}", asked.elapsed());
        let cut = slow.await.unwrap();
        assert!(cut >= Duration::from_millis(1900) && cut < Duration::from_millis(3500), "{cut:?}");
        assert!(seen.lock().unwrap().is_empty());
        assert!(!task.is_finished(), "the listener still waits for the real redirect");
        let status = ask(port, "GET /callback?code=c&state=s HTTP/1.1\r\n\r\n").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_fixed_port_is_used_and_one_in_use_is_named() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let redirect = LoopbackRedirect::fixed(Some(port), "/cb").unwrap();
        let err = LoopbackListener::bind(&redirect).await.unwrap_err();
        assert_eq!(err.reason(), castkey_ipc::Reason::LoginFailed);
        assert!(err.to_string().contains(&format!("port {port} is in use")), "{err}");
        drop(taken);
        let l = LoopbackListener::bind(&redirect).await.unwrap();
        assert_eq!(l.port(), port);
        assert_eq!(l.redirect_uri(), format!("http://127.0.0.1:{port}/cb"));
    }

    #[test]
    fn fixed_ports_and_paths_are_checked() {
        assert!(LoopbackRedirect::fixed(Some(80), "/callback").is_err());
        assert!(LoopbackRedirect::fixed(Some(1023), "/callback").is_err());
        LoopbackRedirect::fixed(Some(1024), "/callback").unwrap();
        LoopbackRedirect::fixed(Some(65535), "/a/b-c_d.e~f").unwrap();
        for bad in ["callback", "/a b", "/a?b", "/a#b", "/a/../b", "/a/./b", "/%2e", ""] {
            assert!(LoopbackRedirect::fixed(None, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn routes() {
        assert_eq!(route("GET /cb?x=1 HTTP/1.1\r\n", "/cb"), Route::Callback("/cb?x=1".into()));
        assert_eq!(route("GET /cb HTTP/1.0\r\n", "/cb"), Route::Callback("/cb".into()));
        assert!(matches!(route("GET /cb/ HTTP/1.1\r\n", "/cb"), Route::Answer(404, _)));
        assert!(matches!(route("PUT /cb HTTP/1.1\r\n", "/cb"), Route::Answer(405, _)));
        assert!(matches!(route("GET http://evil/cb HTTP/1.1\r\n", "/cb"), Route::Answer(400, _)));
        assert!(matches!(route("", "/cb"), Route::Answer(400, _)));
    }

    /// `/proc/net/tcp` and `/proc/net/tcp6` as a little-endian Linux prints
    /// them: a listener on 127.0.0.1:8080, a connection to it from port
    /// 54321 (uid 1000, both ends listed), one in `TIME_WAIT` (uid 0), and
    /// over IPv6 one from an IPv4-mapped socket (uid 1001) and one from ::1
    /// (uid 1002).
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 41002 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 41003 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:D432 0100007F:1F90 06 00000000:00000000 03:00000F9A 00000000     0        0 0 3 0000000000000000
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23001 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:D433 0000000000000000FFFF00000100007F:1F90 01 00000000:00000000 00:00000000 00000000  1001        0 23002 1 0000000000000000 20 4 30 10 -1
   2: 00000000000000000000000001000000:9C40 00000000000000000000000001000000:1F90 01 00000000:00000000 00:00000000 00000000  1002        0 23003 1 0000000000000000 20 4 30 10 -1
";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn the_peer_socket_owner_is_read_from_proc_net_tcp() {
        let listener = addr("127.0.0.1:8080");
        assert_eq!(proc_address("0100007F:1F90"), Some(listener));
        assert_eq!(proc_address("00000000000000000000000001000000:9C40"), Some(addr("[::1]:40000")));
        assert_eq!(proc_address("0100007F"), None);
        assert_eq!(proc_address("0100007:1F90"), None);
        // The peer's end: local 127.0.0.1:54321, remote the listener.
        assert_eq!(socket_owner(TCP, addr("127.0.0.1:54321"), listener), Some(1000));
        // The listener's own end is not the peer's.
        assert_eq!(socket_owner(TCP, listener, addr("127.0.0.1:54321")), Some(1000));
        assert_eq!(socket_owner(TCP, addr("127.0.0.1:54322"), listener), None, "TIME_WAIT is skipped");
        assert_eq!(socket_owner(TCP6, addr("127.0.0.1:54323"), listener), Some(1001), "IPv4-mapped");
        assert_eq!(socket_owner(TCP6, addr("[::1]:40000"), addr("[::1]:8080")), Some(1002));

        let tables = [TCP, TCP6];
        check_peer(&tables, listener, addr("127.0.0.1:54321"), 1000).unwrap();
        assert_eq!(
            check_peer(&tables, listener, addr("127.0.0.1:54323"), 1000),
            Err(PeerRefused::OtherUser(1001))
        );
        assert_eq!(
            check_peer(&tables, listener, addr("127.0.0.1:54321"), 1001),
            Err(PeerRefused::OtherUser(1000))
        );
        assert_eq!(check_peer(&tables, listener, addr("127.0.0.1:1"), 1000), Err(PeerRefused::Unknown));
        assert_eq!(
            check_peer(&["garbage\nmore garbage"], listener, addr("127.0.0.1:1"), 1000),
            Err(PeerRefused::Unknown)
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn this_users_own_connection_passes_the_peer_check() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server, peer) = l.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        peer_check(server.local_addr().unwrap(), peer).await.unwrap();
    }
}
