//! A small fault-injecting HTTP/1.1 proxy for registry tests, on loopback.
//!
//! It forwards each request to an upstream registry (one fresh upstream connection per
//! request, `Connection: close`), reads the whole answer, and then applies the first
//! matching rule: answer a status instead, cut the body halfway and reset, corrupt a
//! byte, stall the body, or replace the body. It counts the body bytes of every `GET
//! .../blobs/...` it served. In bearer mode it also plays a token server: `/v2/...`
//! needs `Authorization: Bearer <token>` from `GET /token` with basic credentials, and
//! answers 401 with a `Bearer realm=...,service=...` challenge otherwise (the documented
//! equivalent of distribution's token auth, which needs a JWT signing setup); its tokens
//! can be made to lapse (`expires_in`), to be refused after some uses, or refused always.
//! It can also play an OCI 1.1 registry's referrers API over distribution 2.8: it keeps
//! the manifests with a `subject` that are put through it, answers
//! `GET /v2/<name>/referrers/<digest>` with an index of them (filtered by
//! `?artifactType=` with `OCI-Filters-Applied`, if asked), and can confirm such puts
//! with `OCI-Subject`. Every request is logged with the time it arrived.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this status (with an empty JSON body) `times` times.
    Status { status: u16, times: u32 },
    /// As `Status`, with a `Retry-After: retry_after` header.
    Throttle {
        status: u16,
        times: u32,
        retry_after: String,
    },
    /// Send the headers and half the body, then reset the connection, `times` times.
    ResetMidBody { times: u32 },
    /// Flip one byte of the body (every time).
    Corrupt,
    /// Send the headers and one byte, then stall for `delay` and close.
    Slow { delay: Duration },
    /// Serve this body with 200 instead; `chunked` hides its length from the headers.
    Replace {
        body: Vec<u8>,
        content_type: String,
        chunked: bool,
    },
}

#[derive(Clone, Debug)]
struct Rule {
    method: String,
    path_contains: String,
    fault: Fault,
}

/// How the proxy plays the referrers API.
#[derive(Clone, Copy, Debug)]
pub struct ReferrersApi {
    /// Answer a manifest put that has a subject with `OCI-Subject`.
    pub oci_subject: bool,
    /// Apply `?artifactType=` (and say so with `OCI-Filters-Applied`); else ignore it.
    pub filter: bool,
    /// Answer in pages of this many, linked with `Link: <...>; rel="next"`.
    pub page_size: Option<usize>,
    /// Make those links point at another host (a client must not follow them).
    pub link_elsewhere: bool,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    log: Vec<String>,
    times: Vec<Instant>,
    tokens: Vec<String>,
    token_requests: Vec<String>,
    /// Uses of each token that were let through.
    token_uses: HashMap<String, u32>,
    /// Tokens refused after this many uses.
    token_limits: HashMap<String, u32>,
    reject_tokens: bool,
    token_expires_in: Option<u64>,
    referrers_api: Option<ReferrersApi>,
    /// (repository, subject digest, descriptor) of manifests put with a subject.
    referrers: Vec<(String, String, serde_json::Value)>,
}

impl State {
    fn record(&mut self, line: String) {
        self.log.push(line);
        self.times.push(Instant::now());
    }

    /// Is `token` one we issued and still accept? Counts the use if so.
    fn accept(&mut self, token: &str) -> bool {
        if self.reject_tokens || !self.tokens.iter().any(|t| t == token) {
            return false;
        }
        let uses = self.token_uses.entry(token.to_string()).or_default();
        if self.token_limits.get(token).is_some_and(|n| *uses >= *n) {
            return false;
        }
        *uses += 1;
        true
    }
}

pub struct Proxy {
    pub addr: String,
    upstream: String,
    state: Arc<Mutex<State>>,
    blob_bytes: Arc<AtomicU64>,
    bearer: Option<(String, String)>,
}

struct Message {
    head: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Head = (String, Vec<(String, String)>);

fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<Head>> {
    let mut first = String::new();
    if r.read_line(&mut first)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok(Some((first.trim_end().to_string(), headers)))
}

fn read_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    to_eof: bool,
) -> std::io::Result<Vec<u8>> {
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if n == 0 {
                let mut trailer = String::new();
                while r.read_line(&mut trailer)? > 2 {
                    trailer.clear();
                }
                break;
            }
            let mut chunk = vec![0; n];
            r.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk);
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else if to_eof {
        r.read_to_end(&mut body)?;
    }
    Ok(body)
}

impl Proxy {
    /// A transparent proxy to `upstream` (HOST:PORT).
    pub fn start(upstream: &str) -> Proxy {
        Self::start_with(upstream, None)
    }

    /// A proxy that demands bearer tokens issued to `user`/`pass` by its `/token`.
    pub fn bearer(upstream: &str, user: &str, pass: &str) -> Proxy {
        Self::start_with(upstream, Some((user.to_string(), pass.to_string())))
    }

    fn start_with(upstream: &str, bearer: Option<(String, String)>) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = l.local_addr().unwrap().to_string();
        let p = Proxy {
            addr: addr.clone(),
            upstream: upstream.to_string(),
            state: Arc::default(),
            blob_bytes: Arc::default(),
            bearer,
        };
        let ctx = p.ctx();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { continue };
                let ctx = ctx.clone();
                std::thread::spawn(move || ctx.serve(conn));
            }
        });
        p
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            addr: self.addr.clone(),
            upstream: self.upstream.clone(),
            state: self.state.clone(),
            blob_bytes: self.blob_bytes.clone(),
            bearer: self.bearer.clone(),
        }
    }

    /// Apply `fault` to requests with this method whose path contains `path_contains`.
    pub fn add(&self, method: &str, path_contains: &str, fault: Fault) {
        self.state.lock().unwrap().rules.push(Rule {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            fault,
        });
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// Body bytes served for `GET .../blobs/...`.
    pub fn blob_bytes(&self) -> u64 {
        self.blob_bytes.load(Ordering::SeqCst)
    }

    pub fn reset_counters(&self) {
        self.blob_bytes.store(0, Ordering::SeqCst);
        let mut st = self.state.lock().unwrap();
        st.log.clear();
        st.times.clear();
    }

    /// [`Proxy::log`] with the time each request arrived.
    pub fn timed_log(&self) -> Vec<(Instant, String)> {
        let st = self.state.lock().unwrap();
        st.times
            .iter()
            .copied()
            .zip(st.log.iter().cloned())
            .collect()
    }

    /// Bearer mode: the `nth` token issued (from 1) is refused (401, as an expired or
    /// revoked token is) after `uses` requests; other tokens are not limited.
    pub fn expire_token_after(&self, nth: usize, uses: u32) {
        self.state
            .lock()
            .unwrap()
            .token_limits
            .insert(format!("tok-{nth}"), uses);
    }

    /// Bearer mode: issue tokens, but refuse every one of them.
    pub fn reject_all_tokens(&self) {
        self.state.lock().unwrap().reject_tokens = true;
    }

    /// Bearer mode: token answers carry `"expires_in": secs` (the proxy still accepts
    /// the tokens after that: this tests the client's own bookkeeping).
    pub fn token_expires_in(&self, secs: u64) {
        self.state.lock().unwrap().token_expires_in = Some(secs);
    }

    /// Play the OCI 1.1 referrers API (see the module comment).
    pub fn referrers_api(&self, mode: ReferrersApi) {
        self.state.lock().unwrap().referrers_api = Some(mode);
    }

    /// "METHOD PATH -> STATUS" for every request seen.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// Query strings of token requests (bearer mode).
    pub fn token_requests(&self) -> Vec<String> {
        self.state.lock().unwrap().token_requests.clone()
    }
}

#[derive(Clone)]
struct Ctx {
    addr: String,
    upstream: String,
    state: Arc<Mutex<State>>,
    blob_bytes: Arc<AtomicU64>,
    bearer: Option<(String, String)>,
}

fn write_response(
    w: &mut TcpStream,
    status_line: &str,
    headers: &[(String, String)],
    body: &[u8],
    head_request: bool,
) -> std::io::Result<()> {
    let mut out = format!("{status_line}\r\n");
    let mut had_len = None;
    for (k, v) in headers {
        let lk = k.to_ascii_lowercase();
        if lk == "content-length" {
            had_len = Some(v.clone());
            continue;
        }
        if lk == "transfer-encoding" || lk == "connection" {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    let len = if head_request {
        had_len.unwrap_or_else(|| "0".into())
    } else {
        body.len().to_string()
    };
    out.push_str(&format!("Content-Length: {len}\r\n\r\n"));
    w.write_all(out.as_bytes())?;
    if !head_request {
        w.write_all(body)?;
    }
    w.flush()
}

/// `%XX` escapes and `+` of a query value.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let pair = (b[i] == b'%' && i + 2 < b.len())
            .then(|| Some(hex(b[i + 1])? * 16 + hex(b[i + 2])?))
            .flatten();
        match (pair, b[i]) {
            (Some(v), _) => {
                out.push(v as u8);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, c) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl Ctx {
    fn serve(&self, conn: TcpStream) {
        let mut w = conn.try_clone().expect("clone stream");
        let mut r = BufReader::new(conn);
        loop {
            let Ok(Some((head, headers))) = read_head(&mut r) else {
                return;
            };
            let Ok(body) = read_body(&mut r, &headers, false) else {
                return;
            };
            let req = Message {
                head,
                headers,
                body,
            };
            if !self.handle(&req, &mut w) {
                let _ = w.shutdown(Shutdown::Both);
                return;
            }
        }
    }

    fn log(&self, line: String) {
        self.state.lock().unwrap().record(line);
    }

    /// A manifest put with a `subject`: remember it as a referrer; its subject's digest.
    fn note_referrer(&self, req: &Message, path: &str) -> Option<String> {
        let (name, _) = path.strip_prefix("/v2/")?.rsplit_once("/manifests/")?;
        let m: serde_json::Value = serde_json::from_slice(&req.body).ok()?;
        let subject = m["subject"]["digest"].as_str()?.to_string();
        let digest = pause_verify::image::Digest::of(&req.body).to_string();
        let media_type = req
            .header("content-type")
            .map(str::to_string)
            .or_else(|| m["mediaType"].as_str().map(str::to_string))?;
        let artifact_type = m["artifactType"]
            .as_str()
            .or_else(|| m["config"]["mediaType"].as_str())?;
        let mut d = serde_json::json!({
            "mediaType": media_type,
            "digest": digest,
            "size": req.body.len(),
            "artifactType": artifact_type,
        });
        if let Some(a) = m.get("annotations") {
            d["annotations"] = a.clone();
        }
        let mut st = self.state.lock().unwrap();
        if !st
            .referrers
            .iter()
            .any(|(n, _, x)| n == name && x["digest"] == digest)
        {
            st.referrers.push((name.to_string(), subject.clone(), d));
        }
        Some(subject)
    }

    /// Returns false when the connection must close.
    fn handle(&self, req: &Message, w: &mut TcpStream) -> bool {
        let mut parts = req.head.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let path = target.split('?').next().unwrap_or("").to_string();
        let is_head = method == "HEAD";

        if let Some((user, pass)) = &self.bearer {
            if path == "/token" {
                let ok = req.header("authorization")
                    == Some(&format!("Basic {}", b64(&format!("{user}:{pass}"))));
                let mut st = self.state.lock().unwrap();
                st.token_requests.push(
                    target
                        .split_once('?')
                        .map(|x| x.1)
                        .unwrap_or("")
                        .to_string(),
                );
                let (line, body) = if ok {
                    let t = format!("tok-{}", st.tokens.len() + 1);
                    st.tokens.push(t.clone());
                    let body = match st.token_expires_in {
                        Some(n) => format!("{{\"token\":\"{t}\",\"expires_in\":{n}}}"),
                        None => format!("{{\"token\":\"{t}\"}}"),
                    };
                    ("HTTP/1.1 200 OK", body)
                } else {
                    (
                        "HTTP/1.1 401 Unauthorized",
                        "{\"details\":\"bad credentials\"}".to_string(),
                    )
                };
                st.record(format!("{method} {path} -> {}", &line[9..12]));
                drop(st);
                let h = vec![("Content-Type".to_string(), "application/json".to_string())];
                return write_response(w, line, &h, body.as_bytes(), false).is_ok();
            }
            let authorized = req
                .header("authorization")
                .and_then(|a| a.strip_prefix("Bearer "))
                .is_some_and(|t| self.state.lock().unwrap().accept(t));
            if !authorized {
                self.log(format!("{method} {path} -> 401"));
                let h = vec![
                    (
                        "WWW-Authenticate".to_string(),
                        format!(
                            "Bearer realm=\"http://{}/token\",service=\"pv-test\"",
                            self.addr
                        ),
                    ),
                    ("Content-Type".to_string(), "application/json".to_string()),
                ];
                let body =
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
                return write_response(w, "HTTP/1.1 401 Unauthorized", &h, body, is_head).is_ok();
            }
        }

        // A matching rule?
        let fault = {
            let mut st = self.state.lock().unwrap();
            let mut chosen = None;
            for rule in st.rules.iter_mut() {
                if rule.method == method && path.contains(&rule.path_contains) {
                    match &mut rule.fault {
                        Fault::Status { times, .. }
                        | Fault::Throttle { times, .. }
                        | Fault::ResetMidBody { times } => {
                            if *times == 0 {
                                continue;
                            }
                            *times -= 1;
                        }
                        _ => {}
                    }
                    chosen = Some(rule.fault.clone());
                    break;
                }
            }
            chosen
        };
        if let Some(Fault::Status { status, .. }) = &fault {
            self.log(format!("{method} {path} -> {status} (injected)"));
            let line = format!("HTTP/1.1 {status} Injected");
            return write_response(w, &line, &[], b"{}", is_head).is_ok();
        }
        if let Some(Fault::Throttle {
            status,
            retry_after,
            ..
        }) = &fault
        {
            self.log(format!("{method} {path} -> {status} (injected)"));
            let line = format!("HTTP/1.1 {status} Injected");
            let h = vec![("Retry-After".to_string(), retry_after.clone())];
            return write_response(w, &line, &h, b"{}", is_head).is_ok();
        }

        // The referrers API, from what was put through us.
        let api = self.state.lock().unwrap().referrers_api;
        if let (Some(api), None, "GET") = (api, &fault, method.as_str()) {
            if let Some((name, subject)) = path
                .strip_prefix("/v2/")
                .and_then(|p| p.rsplit_once("/referrers/"))
            {
                let param = |k: &str| {
                    target
                        .split_once('?')
                        .map(|(_, q)| q)
                        .unwrap_or("")
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(k).map(str::to_string))
                };
                let raw_type = param("artifactType=");
                let wanted = raw_type
                    .as_deref()
                    .map(percent_decode)
                    .filter(|_| api.filter);
                let page: usize = param("page=").and_then(|p| p.parse().ok()).unwrap_or(0);
                let manifests: Vec<serde_json::Value> = self
                    .state
                    .lock()
                    .unwrap()
                    .referrers
                    .iter()
                    .filter(|(n, s, _)| n == name && s == subject)
                    .map(|(_, _, d)| d.clone())
                    .filter(|d| wanted.as_deref().is_none_or(|t| d["artifactType"] == t))
                    .collect();
                let size = api.page_size.unwrap_or(usize::MAX).max(1);
                let more = manifests.len() > (page + 1).saturating_mul(size);
                let manifests: Vec<_> = manifests
                    .into_iter()
                    .skip(page.saturating_mul(size))
                    .take(size)
                    .collect();
                let body = serde_json::to_vec(&serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": manifests,
                }))
                .unwrap();
                let mut h = vec![(
                    "Content-Type".to_string(),
                    "application/vnd.oci.image.index.v1+json".to_string(),
                )];
                if wanted.is_some() {
                    h.push(("OCI-Filters-Applied".into(), "artifactType".into()));
                }
                if more {
                    let keep = raw_type.map(|t| format!("&artifactType={t}"));
                    h.push((
                        "Link".into(),
                        format!(
                            "<{}{path}?page={}{}>; rel=\"next\"",
                            if api.link_elsewhere {
                                "http://elsewhere.invalid"
                            } else {
                                ""
                            },
                            page + 1,
                            keep.unwrap_or_default()
                        ),
                    ));
                }
                self.log(format!("{method} {path} -> 200 (referrers api)"));
                return write_response(w, "HTTP/1.1 200 OK", &h, &body, false).is_ok();
            }
        }

        // Forward.
        let Ok(mut up) = TcpStream::connect(&self.upstream) else {
            return false;
        };
        let mut out = format!("{} {} HTTP/1.1\r\n", method, target);
        for (k, v) in &req.headers {
            let lk = k.to_ascii_lowercase();
            if matches!(
                lk.as_str(),
                "connection" | "keep-alive" | "transfer-encoding" | "content-length"
            ) || (self.bearer.is_some() && lk == "authorization")
            {
                continue;
            }
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if !req.body.is_empty() || matches!(method.as_str(), "PUT" | "POST" | "PATCH") {
            out.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
        }
        out.push_str("Connection: close\r\n\r\n");
        if up.write_all(out.as_bytes()).is_err() || up.write_all(&req.body).is_err() {
            return false;
        }
        let mut ur = BufReader::new(up);
        let Ok(Some((status_line, headers))) = read_head(&mut ur) else {
            return false;
        };
        let code: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = if is_head || code == 204 || code == 304 {
            Vec::new()
        } else {
            match read_body(&mut ur, &headers, true) {
                Ok(b) => b,
                Err(_) => return false,
            }
        };
        let mut status_line = status_line;
        status_line.replace_range(..8, "HTTP/1.1");
        let mut headers = headers;
        if let (Some(api), "PUT", true) = (api, method.as_str(), (200..300).contains(&code)) {
            if let Some(subject) = self.note_referrer(req, &path) {
                if api.oci_subject {
                    headers.push(("OCI-Subject".into(), subject));
                }
            }
        }
        self.log(format!(
            "{method} {path} -> {code}{}",
            if fault.is_some() { " (fault)" } else { "" }
        ));
        let counts = method == "GET" && path.contains("/blobs/") && (200..300).contains(&code);

        match fault {
            Some(Fault::Corrupt) if !body.is_empty() => {
                let mut b = body;
                b[0] ^= 0xff;
                if counts {
                    self.blob_bytes.fetch_add(b.len() as u64, Ordering::SeqCst);
                }
                write_response(w, &status_line, &headers, &b, is_head).is_ok()
            }
            Some(Fault::ResetMidBody { .. }) => {
                let half = body.len() / 2;
                let mut h = format!("{status_line}\r\n");
                for (k, v) in &headers {
                    let lk = k.to_ascii_lowercase();
                    if lk != "content-length" && lk != "transfer-encoding" && lk != "connection" {
                        h.push_str(&format!("{k}: {v}\r\n"));
                    }
                }
                h.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                let _ = w.write_all(h.as_bytes());
                let _ = w.write_all(&body[..half]);
                if counts {
                    self.blob_bytes.fetch_add(half as u64, Ordering::SeqCst);
                }
                let _ = w.flush();
                // SO_LINGER 0 would send RST; a half-closed body is what clients see either way.
                false
            }
            Some(Fault::Slow { delay }) => {
                let mut h = format!("{status_line}\r\n");
                for (k, v) in &headers {
                    let lk = k.to_ascii_lowercase();
                    if lk != "content-length" && lk != "transfer-encoding" && lk != "connection" {
                        h.push_str(&format!("{k}: {v}\r\n"));
                    }
                }
                h.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                let _ = w.write_all(h.as_bytes());
                let _ = w.write_all(&body[..body.len().min(1)]);
                let _ = w.flush();
                std::thread::sleep(delay);
                false
            }
            Some(Fault::Replace {
                body: nb,
                content_type,
                chunked,
            }) => {
                let mut h = format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n");
                if chunked {
                    h.push_str("Transfer-Encoding: chunked\r\n\r\n");
                    let _ = w.write_all(h.as_bytes());
                    for c in nb.chunks(64 << 10) {
                        let _ = w.write_all(format!("{:x}\r\n", c.len()).as_bytes());
                        let _ = w.write_all(c);
                        let _ = w.write_all(b"\r\n");
                    }
                    let _ = w.write_all(b"0\r\n\r\n");
                } else {
                    h.push_str(&format!("Content-Length: {}\r\n\r\n", nb.len()));
                    let _ = w.write_all(h.as_bytes());
                    let _ = w.write_all(&nb);
                }
                let _ = w.flush();
                false
            }
            _ => {
                if counts {
                    self.blob_bytes
                        .fetch_add(body.len() as u64, Ordering::SeqCst);
                }
                write_response(w, &status_line, &headers, &body, is_head).is_ok()
            }
        }
    }
}
