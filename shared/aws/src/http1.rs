//! The HTTPS client every AWS client shares: hyper-util's pooled client over rustls (ring), for
//! HTTP/1.1 only. Every AWS API these functions call speaks HTTP/1.1, and the SDK's own hyper
//! client enables HTTP/2 whatever the endpoint speaks, which links `h2` (about 225 KB of code,
//! and as much resident memory) into every function. This is the SDK's client without it: the
//! same pool (hyper-util's), the same TLS stack, the SDK's timeouts, and the SDK's error kinds,
//! so retries and our own reading of a failure (timed out, so maybe done; could not connect)
//! are unchanged.

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

type Https = hyper_rustls::HttpsConnector<TcpConnector>;

/// An HTTP/1.1 client over rustls, trusting `roots`, for [`aws_types::SdkConfig`].
pub fn client(roots: rustls::RootCertStore) -> Result<SharedHttpClient, rustls::Error> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(SharedHttpClient::new(Http1Client {
        tls: Arc::new(tls),
        connectors: Mutex::new(Vec::new()),
    }))
}

#[derive(Debug)]
struct Http1Client {
    tls: Arc<rustls::ClientConfig>,
    /// One connector (and so one pool) per timeout setting asked for: in practice one, since
    /// every client of a function is configured alike.
    connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timeouts {
    connect: Option<Duration>,
    read: Option<Duration>,
}

impl HttpClient for Http1Client {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let timeouts = Timeouts {
            connect: settings.connect_timeout(),
            read: settings.read_timeout(),
        };
        let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = connectors.iter().find(|(t, _)| *t == timeouts) {
            return c.clone();
        }
        let connector = SharedHttpConnector::new(Http1Connector::new(&self.tls, timeouts));
        connectors.push((timeouts, connector.clone()));
        connector
    }
}

#[derive(Debug, Clone)]
struct Http1Connector {
    client: Client<Https, SdkBody>,
    read_timeout: Option<Duration>,
}

impl Http1Connector {
    fn new(tls: &Arc<rustls::ClientConfig>, timeouts: Timeouts) -> Self {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(timeouts.connect);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.as_ref().clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            // The pool's idle timer needs a timer to run.
            .pool_timer(TokioTimer::new())
            .build(https);
        Http1Connector {
            client,
            read_timeout: timeouts.read,
        }
    }
}

impl HttpConnector for Http1Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let sent = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let answered = match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, sent).await {
                    Ok(answered) => answered,
                    Err(elapsed) => return Err(ConnectorError::timeout(elapsed.into())),
                },
                None => sent.await,
            };
            match answered {
                Ok(response) => HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None)),
                Err(e) => Err(connector_error(e)),
            }
        })
    }
}

/// The SDK's kind of a failure, as its own hyper client reads one: a timeout; an I/O failure
/// (could not connect, or the connection closed); the caller's mistake; or other.
fn connector_error(err: hyper_util::client::legacy::Error) -> ConnectorError {
    let timed_out = chain(&err).any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout)
    });
    if timed_out {
        return ConnectorError::timeout(err.into());
    }
    if err.is_connect() {
        return ConnectorError::io(err.into());
    }
    let hyper = chain(&err).find_map(|e| e.downcast_ref::<hyper::Error>());
    match hyper {
        Some(h) if h.is_user() => ConnectorError::user(err.into()),
        Some(h) if h.is_closed() || h.is_canceled() => ConnectorError::io(err.into()),
        Some(h) if h.is_incomplete_message() => ConnectorError::other(
            err.into(),
            Some(aws_smithy_types::retry::ErrorKind::TransientError),
        ),
        _ if chain(&err).any(|e| e.is::<std::io::Error>()) => ConnectorError::io(err.into()),
        _ => ConnectorError::other(err.into(), None),
    }
}

/// `err` and each error after it.
fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_roots() -> rustls::RootCertStore {
        rustls::RootCertStore::empty()
    }

    fn get(url: &str) -> HttpRequest {
        HttpRequest::try_from(http::Request::get(url).body(SdkBody::empty()).unwrap()).unwrap()
    }

    fn connector(
        read_timeout: Option<Duration>,
        roots: rustls::RootCertStore,
    ) -> SharedHttpConnector {
        let mut settings = HttpConnectorSettings::builder().connect_timeout(Duration::from_secs(2));
        settings.set_read_timeout(read_timeout);
        let settings = settings.build();
        let components =
            aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder::for_tests()
                .build()
                .unwrap();
        client(roots)
            .unwrap()
            .http_connector(&settings, &components)
    }

    /// A loopback HTTP/1.1 server that answers `ok` to each request after `delay`, keeping
    /// each connection open, over TLS when given `tls`; its URL (`localhost` for TLS, which
    /// its certificate names) and the connections it accepted.
    async fn server(
        delay: Duration,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = match tls {
            Some(_) => format!("https://localhost:{port}/"),
            None => format!("http://127.0.0.1:{port}/"),
        };
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(socket).await {
                                answer(stream, delay).await;
                            }
                        }
                        None => answer(socket, delay).await,
                    }
                });
            }
        });
        (url, accepted)
    }

    async fn answer<S>(mut socket: S, delay: Duration)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while let Ok(n) = socket.read(&mut buf).await {
            if n == 0 {
                return;
            }
            seen.extend_from_slice(&buf[..n]);
            while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                seen.drain(..end + 4);
                tokio::time::sleep(delay).await;
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if socket.write_all(answer).await.is_err() || socket.flush().await.is_err() {
                    return;
                }
            }
        }
    }

    async fn body_of(response: HttpResponse) -> Vec<u8> {
        let body = aws_smithy_types::byte_stream::ByteStream::new(response.into_body());
        body.collect().await.unwrap().into_bytes().to_vec()
    }

    #[tokio::test]
    async fn requests_one_after_another_share_one_connection_and_read_the_whole_answer() {
        let (url, accepted) = server(Duration::ZERO, None).await;
        let connector = connector(None, any_roots());
        for _ in 0..3 {
            let response = connector.call(get(&url)).await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            assert_eq!(body_of(response).await, b"ok");
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_answer_slower_than_the_read_timeout_is_a_timeout() {
        let (url, _) = server(Duration::from_secs(5), None).await;
        let err = connector(Some(Duration::from_millis(200)), any_roots())
            .call(get(&url))
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
    }

    #[tokio::test]
    async fn nothing_listening_is_an_io_failure_not_a_timeout() {
        let err = connector(None, any_roots())
            .call(get("http://127.0.0.1:9/"))
            .await
            .unwrap_err();
        assert!(err.is_io() && !err.is_timeout(), "{err:?}");
    }

    #[tokio::test]
    async fn an_https_endpoint_is_reached_over_tls_only_when_the_roots_vouch_for_it() {
        let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = issued.cert.der().clone();
        let key = rustls_pki_types::PrivatePkcs8KeyDer::from(issued.signing_key.serialize_der());
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())
        .unwrap();
        let (url, _) = server(
            Duration::ZERO,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls))),
        )
        .await;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let response = connector(None, roots).call(get(&url)).await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(body_of(response).await, b"ok");
        // Neither the Amazon roots nor none at all vouch for this certificate.
        for roots in [crate::TlsRoots::Amazon.root_store(), any_roots()] {
            let refused = connector(None, roots).call(get(&url)).await;
            assert!(refused.is_err(), "an untrusted certificate was accepted");
        }
    }
}
