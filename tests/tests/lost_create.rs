//! Finding the meeting of a create whose answer was lost, as the worker asks for it
//! (`find_meeting`), through Prism (the official spec must allow every list request) in front of
//! a recording wiremock Zoom.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bridge_relay::meetings::MeetingProvider;
use bridge_relay::secrets::{FileSecretSource, SecretCache};
use bridge_relay::zoom::ZoomApi;
use bridge_relay_tests::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

const FOUND_ID: u64 = 85_000_000_999;

struct Zoom {
    api: ZoomApi,
    apis: ApiStandIns,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn zoom(name: &str) -> Zoom {
    let apis = ApiStandIns::start(FOUND_ID).await;
    let dir = std::env::temp_dir().join(format!("bridge-relay-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secrets.json");
    std::fs::write(&file, secret_document(&["unused"])).unwrap();
    let secrets = Arc::new(SecretCache::new(
        Arc::new(FileSecretSource::new(&file)),
        Duration::from_secs(300),
    ));
    let env = apis.env();
    let get = |name: &str| env.iter().find(|(k, _)| *k == name).unwrap().1.clone();
    let api = ZoomApi::new(
        bridge_relay::http::client(),
        &get("ZOOM_API_BASE"),
        &get("ZOOM_OAUTH_BASE"),
        HOST_USER,
        secrets,
    );
    let zoom = Zoom {
        api,
        apis,
        _dir: TempDir(dir),
    };
    answer_get(&zoom, FOUND_ID).await;
    zoom
}

/// Zoom's answer to `GET /meetings/{id}`, for the meeting looked for and for the ones that
/// must not be taken for it (so taking one shows as its id, not as a missing route).
async fn answer_get(zoom: &Zoom, id: u64) {
    Mock::given(method("GET"))
        .and(path(format!("/meetings/{id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(zoom_meeting_created(id)))
        .mount(&zoom.apis.zoom_upstream)
        .await;
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// A meeting as Zoom's list shows it, created at `created`.
fn listed(id: u64, agenda: &str, created: SystemTime) -> Value {
    json!({
        "id": id, "uuid": "4444AAAiAAAAAiAiAiiAii==", "host_id": "x1yCzABCDEfg23HiJKl4mN",
        "topic": "[#1] Incident", "type": 2, "start_time": rfc3339(created), "duration": 60,
        "timezone": "UTC", "created_at": rfc3339(created), "agenda": agenda,
        "join_url": format!("https://us06web.zoom.us/j/{id}")
    })
}

/// Answers the host's list in pages of `meetings.chunks(300)`, chained by `next_page_token`.
async fn list_pages(zoom: &Zoom, meetings: &[Value]) {
    let pages: Vec<&[Value]> = meetings.chunks(300).collect();
    for (i, page) in pages.iter().enumerate() {
        let next = if i + 1 < pages.len() {
            format!("page-{}", i + 1)
        } else {
            String::new()
        };
        let body = json!({
            "page_size": 300, "page_count": pages.len(), "total_records": meetings.len(),
            "next_page_token": next, "meetings": page,
        });
        let request = Mock::given(method("GET"))
            .and(path(format!("/users/{HOST_USER}/meetings")))
            .and(query_param("type", "scheduled"));
        let request = if i == 0 {
            request.and(query_param_is_missing("next_page_token"))
        } else {
            request.and(query_param("next_page_token", format!("page-{i}")))
        };
        request
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&zoom.apis.zoom_upstream)
            .await;
    }
}

async fn list_requests(zoom: &Zoom) -> Vec<wiremock::Request> {
    ApiStandIns::requests(&zoom.apis.zoom_upstream)
        .await
        .into_iter()
        .filter(|r| r.url.path() == format!("/users/{HOST_USER}/meetings"))
        .collect()
}

/// A host that made more meetings than the old look-up read (5 pages of 300) still finds its
/// own, on the seventh page; the list asked for is the window's dates, and a meeting of the
/// same incident made long before the window (an older, finished attempt) is not taken for it.
#[tokio::test(flavor = "multi_thread")]
async fn a_busy_hosts_lost_meeting_is_found_within_the_window() {
    let zoom = zoom("lost-create-busy").await;
    let now = SystemTime::now();
    let marker = "Incident bridge for PagerDuty incident #7 (PLOSTMEET1)";
    let long_ago = now - Duration::from_secs(20 * 24 * 3600);
    let mut meetings = vec![listed(
        84_000_000_001,
        &format!("{marker}\nAn earlier outage"),
        long_ago,
    )];
    for i in 0..1900u64 {
        let minutes_ago = Duration::from_secs(60 * (i % 600));
        meetings.push(listed(
            84_100_000_000 + i,
            &format!("Incident bridge for PagerDuty incident #{i} (POTHER{i:04})\nOther outage"),
            now - minutes_ago,
        ));
    }
    meetings.push(listed(
        FOUND_ID,
        &format!("{marker}\nCheckout down"),
        now - Duration::from_secs(120),
    ));
    list_pages(&zoom, &meetings).await;
    answer_get(&zoom, 84_000_000_001).await;

    let found = zoom.api.find_meeting("PLOSTMEET1", None).await.unwrap();

    assert_eq!(found.map(|m| m.id), Some(FOUND_ID));
    let lists = list_requests(&zoom).await;
    assert_eq!(lists.len(), 7, "every page up to the meeting is read");
    let query = |r: &wiremock::Request, name: &str| {
        r.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let today = rfc3339(now)[..10].to_owned();
    for request in &lists {
        let from = query(request, "from").expect("the list is narrowed to the window's dates");
        let to = query(request, "to").expect("the list is narrowed to the window's dates");
        assert!(from < today && to > today, "{from}..{to} holds today");
        assert!(
            *from > rfc3339(long_ago)[..10],
            "{from} is inside the window"
        );
        assert_eq!(query(request, "timezone").as_deref(), Some("UTC"));
    }
}

/// An incident whose title carries another incident's marker line does not make its meeting
/// that incident's: only the agenda's first line, whole, is the marker. The review's lookup
/// (its own marker, a meeting that starts later than it was created) still finds the review.
#[tokio::test(flavor = "multi_thread")]
async fn a_title_carrying_another_incidents_marker_is_not_adopted() {
    let zoom = zoom("lost-create-title").await;
    let now = SystemTime::now();
    let created = now - Duration::from_secs(60);
    let mut review = listed(
        FOUND_ID,
        "Post-incident review of PagerDuty incident #1 (review PVICTIM01)\nhttps://acme.pagerduty.com/incidents/PVICTIM01",
        created,
    );
    review["start_time"] = json!(rfc3339(now + Duration::from_secs(3 * 24 * 3600)));
    let meetings = [
        listed(
            84_000_000_002,
            "Incident bridge for PagerDuty incident #2 (PATTACK02)\nIncident bridge for PagerDuty incident #1 (PVICTIM01)",
            created,
        ),
        listed(
            84_000_000_003,
            "Incident bridge for PagerDuty incident #3 (PATTACK03)\nSee (PVICTIM01) and (review PVICTIM01)",
            created,
        ),
        review,
    ];
    list_pages(&zoom, &meetings).await;
    answer_get(&zoom, 84_000_000_002).await;
    answer_get(&zoom, 84_000_000_003).await;

    let bridge = zoom.api.find_meeting("PVICTIM01", None).await.unwrap();
    let found_review = zoom
        .api
        .find_meeting(&bridge_relay::meeting::review_marker_id("PVICTIM01"), None)
        .await
        .unwrap();

    assert_eq!(
        bridge.map(|m| m.id),
        None,
        "neither attacker's meeting is the victim's bridge"
    );
    assert_eq!(found_review.map(|m| m.id), Some(FOUND_ID));
}
