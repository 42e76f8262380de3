//! The registry client: options, repositories, the HTTP client and its authentication
//! (anonymous, basic, bearer tokens cached until they expire), retries.

#[allow(unused_imports)]
use super::*;

/// What a command asked of the transport.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// `--creds USER:PASS`: used for every registry this run talks to.
    pub creds: Option<Credentials>,
    /// `--insecure REGISTRY` (repeatable): plain HTTP for these hosts. Loopback hosts
    /// (127.0.0.0/8, localhost, [::1]) always use plain HTTP.
    pub insecure: Vec<String>,
    /// `--tls-verify=false`: plain HTTP for every registry this run's images name (as if
    /// each were given to `--insecure`). A token endpoint on another host still needs
    /// TLS before credentials go to it.
    pub insecure_all: bool,
    /// `--cert-dir`: extra trusted CA certificates (PEM) for TLS, besides the built-in roots.
    pub extra_roots_pem: Vec<Vec<u8>>,
    /// Blob cache root (`None`: no cache; blobs go to a scratch directory removed at exit).
    pub cache_dir: Option<PathBuf>,
    /// `--include-foreign`: fetch foreign layers from their URLs.
    pub include_foreign: bool,
    /// Progress bars on stderr (only when it is a terminal).
    pub progress: bool,
    /// Docker config file (default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`).
    pub docker_config: Option<PathBuf>,
    /// Longest wait for the next bytes of an answer.
    pub read_timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// Blobs moved at once.
    pub parallel: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            creds: None,
            insecure: Vec::new(),
            insecure_all: false,
            extra_roots_pem: Vec::new(),
            cache_dir: None,
            include_foreign: false,
            progress: false,
            docker_config: auth::default_config_path(),
            read_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(15),
            retry: RetryPolicy::default(),
            parallel: 4,
        }
    }
}

impl RegistryOptions {
    /// Defaults plus the environment: the XDG blob cache unless `PAUSE_VERIFY_NO_CACHE=1`,
    /// `PAUSE_VERIFY_HTTP_TIMEOUT` (seconds) for the read timeout.
    pub fn from_env() -> RegistryOptions {
        let mut o = RegistryOptions {
            cache_dir: if cache::disabled_by_env() {
                None
            } else {
                cache::default_dir()
            },
            ..RegistryOptions::default()
        };
        if let Some(secs) = std::env::var("PAUSE_VERIFY_HTTP_TIMEOUT")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
        {
            o.read_timeout = Duration::from_secs_f64(secs);
        }
        o
    }
}

/// A repository on a registry: `HOST[:PORT]` and `path/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoRef {
    pub registry: String,
    pub repository: String,
}

impl RepoRef {
    pub fn new(registry: &str, repository: &str) -> RepoRef {
        RepoRef {
            registry: registry.to_string(),
            repository: repository.to_string(),
        }
    }

    pub(super) fn oci(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.registry.clone(),
            self.repository.clone(),
            tag.to_string(),
        )
    }

    /// The host the API is served from (docker.io's is not docker.io).
    pub fn api_host(&self) -> String {
        self.oci("latest").resolve_registry().to_string()
    }
}

impl std::fmt::Display for RepoRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

/// A manifest by tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    Tag(String),
    Digest(Digest),
}

impl std::fmt::Display for ManifestRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestRef::Tag(t) => f.write_str(t),
            ManifestRef::Digest(d) => write!(f, "{d}"),
        }
    }
}

/// Byte counters (for reports and tests).
#[derive(Debug, Default)]
pub struct Counters {
    pub downloaded: AtomicU64,
    pub uploaded: AtomicU64,
    pub cache_hits: AtomicU64,
}

/// A bearer token and until when we use it.
#[derive(Clone)]
pub(super) struct Token {
    pub(super) value: String,
    pub(super) fresh_until: Instant,
}

#[derive(Clone)]
pub(super) struct HostAuth {
    pub(super) challenge: Challenge,
    pub(super) creds: Option<Credentials>,
}

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    pub(super) opts: RegistryOptions,
    pub(super) cache: Option<BlobCache>,
    pub(super) scratch: tempfile::TempDir,
    pub(super) oci: Mutex<HashMap<String, oci_client::Client>>,
    pub(super) hosts: tokio::sync::Mutex<HashMap<String, HostAuth>>,
    pub(super) tokens: Mutex<HashMap<(String, String, bool), Token>>,
    /// Held while a token is fetched, so that requests which find none (or all had the
    /// same one refused) wait for one fetch instead of each asking.
    pub(super) token_fetch: tokio::sync::Mutex<()>,
    pub(super) counters: Counters,
    pub(super) bars: indicatif::MultiProgress,
    /// Verified blobs kept in memory (no cache).
    pub(super) memory: Mutex<HashMap<Digest, bytes::Bytes>>,
    /// One download per digest at a time (prefetch and foreground share it). A prefetch
    /// leaves what it landed in the slot for the next foreground fetch, which takes it
    /// instead of looking the blob up (and hashing a cache entry) again.
    pub(super) inflight: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<Option<Held>>>>>,
    /// Bounds background transfers.
    pub(super) permits: Arc<tokio::sync::Semaphore>,
}

/// A blocking registry client: one per command run, shared by every image it touches.
pub struct Registry {
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) inner: Arc<Inner>,
}

/// Why credentials must not go to this token endpoint, if they must not: only over TLS,
/// unless its host is one plain HTTP is allowed for anyway (loopback or `--insecure`), so
/// a registry cannot make us send the user's password in clear by naming an `http://`
/// realm elsewhere.
pub(super) fn realm_refuses_credentials(
    realm: &str,
    plain_http_ok: impl Fn(&str) -> bool,
) -> Option<String> {
    if realm.starts_with("https://") {
        return None;
    }
    let Some(rest) = realm.strip_prefix("http://") else {
        return Some(format!(
            "the token endpoint {realm:?} is not an http(s) URL; refusing to send credentials"
        ));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if plain_http_ok(host) {
        None
    } else {
        Some(format!(
            "the token endpoint {realm} is plain HTTP on a non-loopback host; refusing to send \
             credentials in clear (pass --insecure {host} if that is really intended)"
        ))
    }
}

pub(super) fn is_loopback(host: &str) -> bool {
    let h = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map(|(h, _)| h)
        .unwrap_or(host);
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h == "::1"
        || h.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

impl Registry {
    pub fn new(opts: RegistryOptions) -> Result<Registry, RegistryError> {
        // reqwest/oci-client are built without a default rustls provider (no aws-lc C
        // build); install ring once. An error means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| RegistryError::Setup(format!("cannot start the I/O runtime: {e}")))?;
        let mut roots = Vec::new();
        for pem in &opts.extra_roots_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                RegistryError::Setup(format!("--cert-dir: not a PEM certificate: {e}"))
            })?;
            // A .crt with no certificate in it is a mistake, not an empty addition.
            if certs.is_empty() {
                return Err(RegistryError::Setup(
                    "--cert-dir: a .crt file holds no PEM certificate".into(),
                ));
            }
            roots.extend(certs);
        }
        let http = reqwest::Client::builder()
            .read_timeout(opts.read_timeout)
            .connect_timeout(opts.connect_timeout)
            .user_agent(concat!("pause-verify/", env!("CARGO_PKG_VERSION")))
            .tls_certs_merge(roots)
            .build()
            .map_err(|e| RegistryError::Setup(format!("cannot build the HTTP client: {e}")))?;
        let cache = match &opts.cache_dir {
            Some(d) => Some(BlobCache::open(d)?),
            None => None,
        };
        let scratch = tempfile::Builder::new()
            .prefix("pause-verify-blobs-")
            .tempdir()
            .map_err(|e| RegistryError::Setup(format!("cannot create a scratch directory: {e}")))?;
        crate::atomic::note_temporary(scratch.path());
        let bars = if opts.progress && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            indicatif::MultiProgress::new()
        } else {
            indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
        };
        let opts_parallel = opts.parallel.max(1);
        Ok(Registry {
            rt,
            inner: Arc::new(Inner {
                http,
                opts,
                cache,
                scratch,
                oci: Mutex::new(HashMap::new()),
                hosts: tokio::sync::Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
                token_fetch: tokio::sync::Mutex::new(()),
                counters: Counters::default(),
                bars,
                memory: Mutex::new(HashMap::new()),
                inflight: Mutex::new(HashMap::new()),
                permits: Arc::new(tokio::sync::Semaphore::new(opts_parallel)),
            }),
        })
    }
    pub fn options(&self) -> &RegistryOptions {
        &self.inner.opts
    }
    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }
}

impl Inner {
    pub(super) fn log(&self, msg: &str) {
        if self.opts.progress {
            self.bars.suspend(|| eprintln!("pause-verify: {msg}"));
        }
    }
    pub(super) fn check_realm_for_credentials(
        &self,
        repo: &RepoRef,
        realm: &str,
    ) -> Result<(), RegistryError> {
        // Not `scheme`: --tls-verify=false covers the registries named (this one), not a
        // token endpoint elsewhere that would then receive the password in clear.
        let named = |h: &str| h == repo.registry || h == repo.api_host();
        match realm_refuses_credentials(realm, |h| {
            is_loopback(h)
                || self.opts.insecure.iter().any(|i| i == h)
                || (self.opts.insecure_all && named(h))
        }) {
            None => Ok(()),
            Some(detail) => Err(RegistryError::Auth {
                registry: repo.registry.clone(),
                detail,
            }),
        }
    }
    pub(super) fn scheme(&self, host: &str) -> &'static str {
        if self.opts.insecure_all
            || is_loopback(host)
            || self.opts.insecure.iter().any(|h| h == host)
        {
            "http"
        } else {
            "https"
        }
    }
    pub(super) fn base(&self, repo: &RepoRef) -> String {
        let host = repo.api_host();
        format!("{}://{}/v2/{}", self.scheme(&host), host, repo.repository)
    }
    pub(super) fn oci_client(&self, host: &str) -> oci_client::Client {
        let mut map = self.oci.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(host.to_string())
            .or_insert_with(|| {
                let protocol = if self.scheme(host) == "http" {
                    oci_client::client::ClientProtocol::Http
                } else {
                    oci_client::client::ClientProtocol::Https
                };
                oci_client::Client::new(oci_client::client::ClientConfig {
                    protocol,
                    use_monolithic_push: true,
                    read_timeout: Some(self.opts.read_timeout),
                    connect_timeout: Some(self.opts.connect_timeout),
                    extra_root_certificates: self
                        .opts
                        .extra_roots_pem
                        .iter()
                        .map(|pem| oci_client::client::Certificate {
                            encoding: oci_client::client::CertificateEncoding::Pem,
                            data: pem.clone(),
                        })
                        .collect(),
                    ..Default::default()
                })
            })
            .clone()
    }
    pub(super) fn registry_auth(h: &HostAuth) -> RegistryAuth {
        match &h.creds {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }
    /// Probe `/v2/` once per host and find credentials.
    pub(super) async fn host_auth(&self, repo: &RepoRef) -> Result<HostAuth, Failure> {
        let host = repo.api_host();
        let mut hosts = self.hosts.lock().await;
        if let Some(h) = hosts.get(&host) {
            return Ok(h.clone());
        }
        let url = format!("{}://{}/v2/", self.scheme(&host), host);
        let res = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| classify_reqwest(&e))?;
        let status = res.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(Failure::Transient {
                detail: format!("{url} answered {status}"),
                timeout: false,
                retry_after: retry_after_of(&res),
            });
        }
        let challenge = match res.headers().get(reqwest::header::WWW_AUTHENTICATE) {
            Some(v) => auth::parse_challenge(v.to_str().unwrap_or("")).ok_or_else(|| {
                Failure::Fatal(RegistryError::Protocol {
                    registry: repo.registry.clone(),
                    what: "/v2/".into(),
                    detail: format!("unsupported WWW-Authenticate challenge {v:?}"),
                })
            })?,
            None if status.is_success() => Challenge::None,
            None => {
                return Err(Failure::Fatal(RegistryError::Refused {
                    registry: repo.registry.clone(),
                    what: "/v2/ (is this a container registry?)".into(),
                    status: status.as_u16(),
                    detail: String::new(),
                }));
            }
        };
        let creds = match &self.opts.creds {
            Some(c) => Some(c.clone()),
            None => match &self.opts.docker_config {
                Some(p) => auth::from_docker_config(p, &repo.registry)
                    .map_err(|e| Failure::Fatal(e.into()))?,
                None => None,
            },
        };
        let h = HostAuth { challenge, creds };
        if !matches!(h.challenge, Challenge::None) {
            self.oci_client(&host)
                .store_auth_if_needed(&host, &Self::registry_auth(&h))
                .await;
        }
        hosts.insert(host, h.clone());
        Ok(h)
    }
    /// The Authorization header for our own requests (None: anonymous).
    pub(super) async fn authorization(
        &self,
        repo: &RepoRef,
        push: bool,
    ) -> Result<Option<String>, Failure> {
        let h = self.host_auth(repo).await?;
        let fail = |detail: String| {
            Failure::Fatal(RegistryError::Auth {
                registry: repo.registry.clone(),
                detail,
            })
        };
        match &h.challenge {
            Challenge::None => Ok(None),
            Challenge::Basic => match &h.creds {
                Some(c) => Ok(Some(format!(
                    "Basic {}",
                    base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        format!("{}:{}", c.username, c.password)
                    )
                ))),
                None => Err(fail(
                    "the registry asks for credentials and none were given".into(),
                )),
            },
            Challenge::Bearer { realm, service } => {
                let key = (repo.api_host(), repo.repository.clone(), push);
                if let Some(t) = self.cached_token(&key) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let _one = self.token_fetch.lock().await;
                // Another request may have fetched it while we waited.
                if let Some(t) = self.cached_token(&key) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let t = self
                    .fetch_token(repo, realm, service.as_deref(), h.creds.as_ref(), push)
                    .await?;
                // Uploads go through oci-client: it sends the same token.
                let op = if push {
                    RegistryOperation::Push
                } else {
                    RegistryOperation::Pull
                };
                self.oci_client(&repo.api_host())
                    .tokens
                    .insert(
                        &repo.oci("latest"),
                        op,
                        RegistryTokenType::Bearer(RegistryToken::Token {
                            token: t.value.clone(),
                        }),
                    )
                    .await;
                let header = format!("Bearer {}", t.value);
                self.tokens
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, t);
                Ok(Some(header))
            }
        }
    }
    pub(super) fn cached_token(&self, key: &(String, String, bool)) -> Option<String> {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .filter(|t| Instant::now() < t.fresh_until)
            .map(|t| t.value.clone())
    }
    /// Ask the token endpoint (distribution's token protocol) for `repository:NAME:pull`
    /// (or `pull,push`), with the credentials if there are any.
    pub(super) async fn fetch_token(
        &self,
        repo: &RepoRef,
        realm: &str,
        service: Option<&str>,
        creds: Option<&Credentials>,
        push: bool,
    ) -> Result<Token, Failure> {
        let scope = format!(
            "repository:{}:{}",
            repo.repository,
            if push { "pull,push" } else { "pull" }
        );
        let mut query = vec![("scope", scope.as_str())];
        if let Some(s) = service {
            query.push(("service", s));
        }
        let asked = Instant::now();
        if creds.is_some() {
            self.check_realm_for_credentials(repo, realm)
                .map_err(Failure::Fatal)?;
        }
        let mut req = self.http.get(realm).query(&query);
        if let Some(c) = creds {
            req = req.basic_auth(&c.username, Some(&c.password));
        }
        let res = req.send().await.map_err(|e| classify_reqwest(&e))?;
        let status = res.status();
        let refused = |detail: String| {
            Failure::Fatal(RegistryError::Auth {
                registry: repo.registry.clone(),
                detail,
            })
        };
        if !status.is_success() {
            let retry_after = retry_after_of(&res);
            let body = read_bounded(res, 64 << 10).await.unwrap_or_default();
            let body = String::from_utf8_lossy(&body[..body.len().min(300)])
                .trim()
                .to_string();
            return Err(match status.as_u16() {
                429 | 500..=599 => Failure::Transient {
                    detail: format!("the token endpoint answered {status}"),
                    timeout: false,
                    retry_after,
                },
                _ => refused(format!("the token endpoint refused: {status} {body}")),
            });
        }
        let body = match read_bounded(res, auth::TOKEN_REPLY_LIMIT).await {
            Ok(b) => b,
            Err(ReadFail::Net(f)) => return Err(f),
            Err(ReadFail::TooLarge) => {
                return Err(Failure::Fatal(RegistryError::TooLarge {
                    registry: repo.registry.clone(),
                    what: "token endpoint answer".into(),
                    limit: auth::TOKEN_REPLY_LIMIT,
                }));
            }
        };
        let reply = auth::parse_token_reply(&body).map_err(|detail| {
            Failure::Fatal(RegistryError::Protocol {
                registry: repo.registry.clone(),
                what: "token endpoint answer".into(),
                detail,
            })
        })?;
        Ok(Token {
            fresh_until: asked + reply.use_for(),
            value: reply.token,
        })
    }
    /// A request carrying bearer token `sent` was answered 401: the token expired or was
    /// revoked. Forget it (the next try fetches another); `None` if no token was sent.
    pub(super) fn refused_token(
        &self,
        repo: &RepoRef,
        what: &str,
        sent: Option<&str>,
    ) -> Option<Failure> {
        let token = sent?.strip_prefix("Bearer ")?;
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, t| t.value != token);
        Some(Failure::Unauthorized(RegistryError::Auth {
            registry: repo.registry.clone(),
            detail: format!(
                "{what}: the registry answered 401 Unauthorized to a bearer token, also to a newly fetched one"
            ),
        }))
    }
    pub(super) async fn retry<T, F, Fut>(
        &self,
        repo: &RepoRef,
        what: &str,
        op: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        retry::run(&self.opts.retry, what, &repo.registry, |m| self.log(m), op).await
    }
}
