//! A local HTTP endpoint that records every request and answers as told.
//! Its `wait_*` helpers panic at their deadline: they are for tests and tools.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::eventually;

/// How the sink answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Ok,
    Status(u16),
    /// 429 with `Retry-After: <secs>`.
    RetryAfter(u64),
    /// Never answers.
    Hang,
    /// Answers 200 after this many milliseconds.
    Delay(u64),
    /// Answers 200 once [`Sink::release`] is called (requests that arrive
    /// after it are answered at once).
    Hold,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    /// Lower-cased names.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
    /// When the sink gave its answer (after any delay); `None` while it has not.
    pub answered_at: Option<Instant>,
    /// The status the sink answered (0 if it hung).
    pub answered: u16,
}

impl Request {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }

    /// The id of the event a webhook delivery carries, if it is one.
    pub fn event_id(&self) -> Option<String> {
        let body: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        body["event"]["id"].as_str().map(str::to_owned)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// An answer written out, as a provider would give it: for mocks of
/// provider APIs that answer errors in a body (Slack's `{"ok": false}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.to_owned(),
        }
    }

    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// The path under which [`Sink::script`] and [`Sink::reply`] apply to every
/// path without replies of its own (for paths that carry ids the test
/// learns later).
pub const ANY_PATH: &str = "*";

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Request>>,
    behaviour: Mutex<Option<Behaviour>>,
    released: tokio::sync::Notify,
    /// Answers to give, in order, to requests to a path, before anything else.
    scripted: Mutex<std::collections::HashMap<String, std::collections::VecDeque<Reply>>>,
    /// The answer to requests to a path once its script is used up.
    standing: Mutex<std::collections::HashMap<String, Reply>>,
}

pub struct Sink {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl Sink {
    pub async fn start() -> Sink {
        let state = Arc::new(State::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { answer(&state, method, uri, headers, body).await }
            },
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Sink { addr, state }
    }

    /// The URL of `path` on this sink.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers requests to `path` with these replies, one each, in order;
    /// then with the standing reply or the behaviour.
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.state
            .scripted
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default()
            .extend(replies);
    }

    /// Answers every request to `path` (after its script) with `reply`.
    pub fn reply(&self, path: &str, reply: Reply) {
        self.state
            .standing
            .lock()
            .unwrap()
            .insert(path.to_owned(), reply);
    }

    /// As [`Sink::script`], for the requests to `path` whose body contains
    /// `needle`: targets that share one endpoint (chat ids, channels, phone
    /// numbers) each answered their own way.
    pub fn script_when(&self, path: &str, needle: &str, replies: impl IntoIterator<Item = Reply>) {
        self.script(&when_key(path, needle), replies);
    }

    /// As [`Sink::reply`], for the requests to `path` whose body contains `needle`.
    pub fn reply_when(&self, path: &str, needle: &str, reply: Reply) {
        self.reply(&when_key(path, needle), reply);
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.state.behaviour.lock().unwrap() = Some(behaviour);
    }

    /// Answers every request held by [`Behaviour::Hold`], and from now on
    /// answers at once.
    pub fn release(&self) {
        self.set(Behaviour::Ok);
        self.state.released.notify_waiters();
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The requests recorded after the first `start`, in arrival order: a
    /// watcher that remembers how many it has seen reads only what is new,
    /// which keeps watching cheap while tens of thousands arrive.
    pub fn requests_since(&self, start: usize) -> Vec<Request> {
        let requests = self.state.requests.lock().unwrap();
        requests.get(start..).unwrap_or_default().to_vec()
    }

    /// How many requests to `path` were answered with a 2xx, without copying them.
    pub fn delivered_count(&self, path: &str) -> usize {
        let requests = self.state.requests.lock().unwrap();
        requests
            .iter()
            .filter(|r| r.path == path && (200..300).contains(&r.answered))
            .count()
    }

    /// Requests to `path` answered with a 2xx.
    pub fn delivered(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path && (200..300).contains(&r.answered))
            .collect()
    }

    /// Waits until `n` requests to `path` were answered with a 2xx.
    pub async fn wait_delivered(&self, path: &str, n: usize, deadline: Duration) -> Vec<Request> {
        eventually(&format!("{n} deliveries to {path}"), deadline, || async {
            let got = self.delivered(path);
            if got.len() >= n {
                Ok(got)
            } else {
                Err(format!("{} delivered", got.len()))
            }
        })
        .await
    }

    /// Waits until at least `n` requests to `path` arrived, whatever the answer.
    pub async fn wait_requests(&self, path: &str, n: usize, deadline: Duration) -> Vec<Request> {
        eventually(&format!("{n} requests to {path}"), deadline, || async {
            let got: Vec<_> = self
                .requests()
                .into_iter()
                .filter(|r| r.path == path)
                .collect();
            if got.len() >= n {
                Ok(got)
            } else {
                Err(format!("{} requests", got.len()))
            }
        })
        .await
    }
}

async fn answer(
    state: &State,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let behaviour = state.behaviour.lock().unwrap().unwrap_or(Behaviour::Ok);
    let path = uri.path();
    let keys = reply_keys(state, path, &body);
    let scripted = {
        let mut scripts = state.scripted.lock().unwrap();
        keys.iter()
            .find_map(|p| scripts.get_mut(p).and_then(|q| q.pop_front()))
    };
    let written = scripted.or_else(|| {
        let standing = state.standing.lock().unwrap();
        keys.iter().find_map(|p| standing.get(p).cloned())
    });
    // A written reply is given at once, whatever the behaviour says.
    let behaviour = if written.is_some() {
        Behaviour::Ok
    } else {
        behaviour
    };
    let (status, response) = match written {
        Some(reply) => (reply.status, written_response(reply)),
        None => canned(behaviour),
    };
    let request = Request {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
        at: Instant::now(),
        answered_at: None,
        answered: status,
    };
    // Registered before the request shows, so a release that follows cannot
    // be missed.
    let released = state.released.notified();
    tokio::pin!(released);
    released.as_mut().enable();
    let index = {
        let mut requests = state.requests.lock().unwrap();
        requests.push(request);
        requests.len() - 1
    };
    match behaviour {
        Behaviour::Hang => std::future::pending::<()>().await,
        Behaviour::Delay(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Behaviour::Hold => released.await,
        _ => {}
    }
    state.requests.lock().unwrap()[index].answered_at = Some(Instant::now());
    response
}

/// The key of the replies to requests to `path` whose body holds `needle`.
fn when_key(path: &str, needle: &str) -> String {
    format!("{path}\u{0}{needle}")
}

/// Where a request's reply is looked for, in order: the replies for its path
/// and a needle in its body, for its path, for any path.
fn reply_keys(state: &State, path: &str, body: &[u8]) -> Vec<String> {
    let body = String::from_utf8_lossy(body);
    let prefix = when_key(path, "");
    let scripted = state.scripted.lock().unwrap();
    let standing = state.standing.lock().unwrap();
    let mut keys: Vec<String> = scripted
        .keys()
        .chain(standing.keys())
        .filter(|k| k.strip_prefix(&prefix).is_some_and(|n| body.contains(n)))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys.extend([path.to_owned(), ANY_PATH.to_owned()]);
    keys
}

fn written_response(reply: Reply) -> Response {
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}

fn canned(behaviour: Behaviour) -> (u16, Response) {
    match behaviour {
        Behaviour::Ok => (200, StatusCode::OK.into_response()),
        Behaviour::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap();
            (code, (status, format!("sink says {code}")).into_response())
        }
        Behaviour::RetryAfter(secs) => (
            429,
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", secs.to_string())],
                "slow down",
            )
                .into_response(),
        ),
        Behaviour::Hang => (0, StatusCode::OK.into_response()),
        Behaviour::Delay(_) | Behaviour::Hold => (200, StatusCode::OK.into_response()),
    }
}
