//! The HTTP both ways: requests the relay makes to the sandbox, read into [`Call`], and the
//! webhooks the sandbox delivers to the relay.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

/// One request the relay made, read whole.
pub(crate) struct Call {
    pub method: String,
    /// The path's segments, percent-decoded.
    pub segments: Vec<String>,
    pub query: HashMap<String, String>,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Bytes,
}

impl Call {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn segments(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }

    /// The body as JSON, or the 400 a service answers for one that is not.
    pub fn json(&self) -> Result<Value, Reply> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Reply::json(
                400,
                serde_json::json!({"code": 300, "message": format!("Request body is not JSON: {e}")}),
            )
        })
    }
}

/// An answer: status and JSON body (none for 204).
pub(crate) struct Reply {
    pub status: u16,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply { status, body: None }
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let body = self.body.map(|b| b.to_string()).unwrap_or_default();
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() =
            hyper::StatusCode::from_u16(self.status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
        let headers = response.headers_mut();
        if self.status != 204 {
            headers.insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
        }
        response
    }
}

/// Bodies over this are refused as the services refuse them (413); the relay's are far smaller.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Serves `handle` on `listener` until the task is aborted.
pub(crate) fn serve<H, F>(listener: TcpListener, handle: Arc<H>) -> tokio::task::JoinHandle<()>
where
    H: Fn(Call) -> F + Send + Sync + 'static,
    F: std::future::Future<Output = Reply> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let handle = handle.clone();
                    async move {
                        let reply = match read(request).await {
                            Ok(call) => handle(call).await,
                            Err(reply) => reply,
                        };
                        Ok::<_, std::convert::Infallible>(reply.into_response())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

async fn read(request: Request<Incoming>) -> Result<Call, Reply> {
    let method = request.method().as_str().to_owned();
    let segments = request
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let query = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (!name.is_empty()).then(|| (percent_decode(name), percent_decode(value)))
        })
        .collect();
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let body = Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|_| {
            Reply::json(
                413,
                serde_json::json!({"message": "Request body too large"}),
            )
        })?
        .to_bytes();
    Ok(Call {
        method,
        segments,
        query,
        headers,
        body,
    })
}

fn percent_decode(text: &str) -> String {
    let mut bytes = text.bytes();
    let mut out = Vec::with_capacity(text.len());
    while let Some(byte) = bytes.next() {
        if byte != b'%' {
            // In a path a plus is a plus; only forms use it for a space, and no API here does.
            out.push(byte);
            continue;
        }
        let pair = [bytes.next(), bytes.next()];
        let decoded = match pair {
            [Some(high), Some(low)] => std::str::from_utf8(&[high, low])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
            _ => None,
        };
        match decoded {
            Some(decoded) => out.push(decoded),
            // Not an escape: kept as written.
            None => {
                out.push(b'%');
                out.extend(pair.into_iter().flatten());
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What became of one webhook the sandbox delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The event type, as the service names it.
    pub event: String,
    /// The receiver's answer (0 when it could not be reached).
    pub status: u16,
    /// The receiver's answer body, or why it could not be reached.
    pub answer: String,
}

impl Delivery {
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// POSTs `body` to `url` with `headers`, as the service's webhook sender would.
pub(crate) async fn deliver(
    http: &reqwest::Client,
    url: &str,
    event: &str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
) -> Delivery {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            Delivery {
                event: event.to_owned(),
                status,
                answer: response.text().await.unwrap_or_default(),
            }
        }
        Err(e) => Delivery {
            event: event.to_owned(),
            status: 0,
            answer: e.without_url().to_string(),
        },
    }
}
