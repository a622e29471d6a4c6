//! Logs and metrics, set up once per cold start: JSON lines on stdout, each inside a `request`
//! span naming the API Gateway request id, the function and the route; one closing line per
//! request with its status and outcome; and the domain's counters ([`mfa_domain::metrics`]) as
//! CloudWatch Embedded Metric Format lines, which CloudWatch turns into metrics without an API
//! call.
//!
//! What a line may hold: ids, routes, statuses, error codes and dependency names. Never a
//! request body, a code, a token, a secret, a phone number or an address: nothing here logs
//! a body, and a test greps a TRACE-level run of the whole suite for every secret it saw.

use std::future::Future;
use std::io::Write;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use mfa_domain::metrics::TARGET as METRIC_TARGET;
use serde_json::{json, Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::Attributes;
use tracing::{Event, Id, Instrument, Level, Subscriber};
use tracing_subscriber::filter::{filter_fn, LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The name of the span every request runs in.
pub const REQUEST_SPAN: &str = "request";

/// The CloudWatch namespace of the counters, unless `METRICS_NAMESPACE` names another.
pub const DEFAULT_NAMESPACE: &str = "Mfa";

/// Crates (by target prefix) whose TRACE and DEBUG output is the wire itself: a TRACE run of
/// the suite showed the SDK printing whole DynamoDB answers (items with code hashes, a member
/// profile's address) and the signing details. They stay at INFO whatever `RUST_LOG` asks, so
/// raising the level to debug a flow cannot put an item in the log.
const WIRE_CRATES: [&str; 7] = [
    "aws_smithy",
    "aws_sdk",
    "aws_sigv4",
    "aws_runtime",
    "aws_config",
    "hyper",
    "h2",
];

/// The log filter: `RUST_LOG` (default `info`) as a list of `level` and `target=level`
/// (span and field filters are not read; a spec that does not parse means `info`), with the
/// wire crates held at INFO and the counters left to the metric writer.
pub fn log_filter(spec: Option<&str>) -> Targets {
    let asked: Targets = spec
        .unwrap_or("info")
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
    let is_wire = |target: &str| WIRE_CRATES.iter().any(|w| target.starts_with(w));
    // What was asked, with every wire target held at INFO (asked for less, it gets less)...
    let mut filter = asked.iter().fold(Targets::new(), |f, (target, level)| {
        let level = if is_wire(target) {
            level.min(LevelFilter::INFO)
        } else {
            level
        };
        f.with_target(target, level)
    });
    if let Some(level) = asked.default_level() {
        filter = filter.with_default(level);
    }
    // ...and each wire crate at the level asked for it (by the default or a shorter target),
    // at most INFO.
    for wire in WIRE_CRATES {
        let level = [Level::INFO, Level::WARN, Level::ERROR]
            .into_iter()
            .find(|l| asked.would_enable(wire, l))
            .map_or(LevelFilter::OFF, LevelFilter::from_level);
        filter = filter.with_target(wire, level);
    }
    filter.with_target(METRIC_TARGET, LevelFilter::OFF)
}

/// Sets up JSON logs and the metric writer once per cold start. Request bodies are never
/// logged.
pub fn init_tracing() {
    let spec = std::env::var("RUST_LOG").ok();
    let namespace =
        std::env::var("METRICS_NAMESPACE").unwrap_or_else(|_| DEFAULT_NAMESPACE.to_owned());
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .without_time()
                .with_filter(log_filter(spec.as_deref())),
        )
        .with(EmfLayer::new(namespace, std::io::stdout).with_filter(filter_fn(emf_sees)))
        .try_init();
}

/// What the metric writer needs to see: the counters, and the request spans they name.
fn emf_sees(m: &tracing::Metadata<'_>) -> bool {
    m.target() == METRIC_TARGET || (m.is_span() && m.name() == REQUEST_SPAN)
}

/// The error code a response was refused with, set by [`crate::error_response`] for the
/// closing log line.
#[derive(Debug, Clone, Copy)]
pub struct Refused(pub &'static str);

/// Runs one request of `function` inside its `request` span and closes it with one line:
/// the status and the outcome (`ok`, `refused` with the error code, `unavailable`, `error`).
pub async fn serve<F, Fut>(function: &'static str, req: Request, handle: F) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let (request_id, route) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (ctx.request_id.clone(), ctx.route_key.clone()),
        _ => (None, None),
    };
    let span = tracing::info_span!(
        REQUEST_SPAN,
        request_id = request_id.as_deref().unwrap_or("-"),
        function,
        route = route.as_deref().unwrap_or("-"),
    );
    let response = handle(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let code = response.extensions().get::<Refused>().map(|r| r.0);
    span.in_scope(|| {
        tracing::info!(
            status,
            outcome = outcome(status),
            code = code.unwrap_or("-"),
            "request done"
        )
    });
    response
}

/// What a status says of a request, in one word.
pub fn outcome(status: u16) -> &'static str {
    match status {
        200..=399 => "ok",
        503 => "unavailable",
        400..=499 => "refused",
        _ => "error",
    }
}

/// Writes each counter event as one CloudWatch Embedded Metric Format line: the metric (a
/// count of 1) with the `Function` dimension, and the request id as a plain property.
pub struct EmfLayer<W> {
    namespace: String,
    writer: W,
}

impl<W> EmfLayer<W> {
    pub fn new(namespace: impl Into<String>, writer: W) -> Self {
        EmfLayer {
            namespace: namespace.into(),
            writer,
        }
    }

    /// The EMF document of one count of `metric`.
    pub fn document(&self, metric: &str, request: &Map<String, Value>, at_ms: u128) -> Value {
        let mut doc = json!({
            "_aws": {
                "Timestamp": at_ms as u64,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["Function"]],
                    "Metrics": [{ "Name": metric, "Unit": "Count" }],
                }],
            },
            "Function": request.get("function").cloned().unwrap_or(json!("unknown")),
            metric: 1,
        });
        if let Some(id) = request.get("request_id") {
            doc["request_id"] = id.clone();
        }
        doc
    }
}

/// The string fields of a span or event.
#[derive(Default)]
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), json!(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), json!(format!("{value:?}")));
    }
}

impl<S, W> Layer<S> for EmfLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != REQUEST_SPAN {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != METRIC_TARGET {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some(metric) = fields.0.get("metric").and_then(Value::as_str) else {
            return;
        };
        let request = ctx
            .event_scope(event)
            .and_then(|scope| {
                scope
                    .from_root()
                    .find_map(|s| s.extensions().get::<Fields>().map(|f| f.0.clone()))
            })
            .unwrap_or_default();
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let line = self.document(metric, &request, at_ms);
        let mut out = self.writer.make_writer();
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_domain::metrics::{count, Metric};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn lines(c: &Captured) -> Vec<Value> {
        String::from_utf8(c.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn a_counter_in_a_request_becomes_one_emf_line_with_the_function_dimension() {
        let emf = Captured::default();
        let logs = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .without_time()
                    .with_writer(logs.clone())
                    .with_filter(log_filter(Some("trace"))),
            )
            .with(EmfLayer::new("MfaTest", emf.clone()).with_filter(filter_fn(emf_sees)));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                REQUEST_SPAN,
                request_id = "req-1",
                function = "verify",
                route = "POST /v1/challenges/{challenge_id}/verify"
            );
            span.in_scope(|| {
                count(Metric::VerificationFailed);
                tracing::info!("inside");
            });
            count(Metric::CodeSent);
        });
        let emf = lines(&emf);
        assert_eq!(emf.len(), 2, "{emf:?}");
        let first = &emf[0];
        assert_eq!(first["VerificationsFailed"], 1);
        assert_eq!(first["Function"], "verify");
        assert_eq!(first["request_id"], "req-1");
        let directive = &first["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "MfaTest");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{ "Name": "VerificationsFailed", "Unit": "Count" }])
        );
        assert!(first["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
        assert_eq!(emf[1]["CodesSent"], 1);
        assert_eq!(emf[1]["Function"], "unknown");
        // The counters are not also written as log lines; the log line carries the request.
        let logs = lines(&logs);
        assert_eq!(logs.len(), 1, "{logs:?}");
        assert_eq!(logs[0]["span"]["request_id"], "req-1");
        assert_eq!(logs[0]["span"]["function"], "verify");
    }

    #[test]
    fn every_counter_has_a_distinct_cloudwatch_name() {
        let names: std::collections::BTreeSet<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), Metric::ALL.len());
    }

    #[test]
    fn the_wire_crates_stay_at_info_when_everything_else_is_at_trace() {
        let filter = log_filter(Some("trace"));
        for wire in WIRE_CRATES {
            assert!(filter.would_enable(wire, &Level::INFO), "{wire}");
            assert!(!filter.would_enable(wire, &Level::DEBUG), "{wire}");
            let inside = format!("{wire}_dynamodb::operation");
            assert!(filter.would_enable(&inside, &Level::INFO), "{inside}");
            assert!(!filter.would_enable(&inside, &Level::DEBUG), "{inside}");
        }
        assert!(filter.would_enable("mfa_domain::login", &Level::TRACE));
        assert!(!filter.would_enable(METRIC_TARGET, &Level::ERROR));
        assert_eq!(METRIC_TARGET, "mfa::metric");
    }

    #[test]
    fn rust_log_sets_levels_by_target_and_a_spec_that_does_not_parse_means_info() {
        let filter = log_filter(Some("warn,mfa_domain=debug,hyper=trace"));
        assert!(filter.would_enable("mfa_domain::phones", &Level::DEBUG));
        assert!(!filter.would_enable("mfa_http", &Level::INFO));
        assert!(filter.would_enable("mfa_http", &Level::WARN));
        // A wire crate asked for TRACE still stops at INFO; asked for less, it gets less.
        assert!(!filter.would_enable("hyper::proto", &Level::DEBUG));
        assert!(!filter.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(filter.would_enable("aws_smithy_runtime", &Level::WARN));
        let filter = log_filter(Some("aws_smithy_runtime=trace,aws=debug"));
        assert!(!filter.would_enable("aws_smithy_runtime::client", &Level::DEBUG));
        assert!(!filter.would_enable("aws_sdk_kms", &Level::DEBUG));
        assert!(filter.would_enable("aws_sdk_kms", &Level::INFO));
        for spec in [None, Some("info"), Some("mfa[span{x=1}]=debug")] {
            let filter = log_filter(spec);
            assert!(filter.would_enable("mfa_http", &Level::INFO), "{spec:?}");
            assert!(!filter.would_enable("mfa_http", &Level::DEBUG), "{spec:?}");
        }
    }

    #[test]
    fn a_status_has_one_outcome() {
        assert_eq!(outcome(200), "ok");
        assert_eq!(outcome(204), "ok");
        assert_eq!(outcome(400), "refused");
        assert_eq!(outcome(429), "refused");
        assert_eq!(outcome(503), "unavailable");
        assert_eq!(outcome(500), "error");
    }
}
