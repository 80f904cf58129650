//! `bridge-relay demo`: the local runner against built-in sandboxes of Zoom and PagerDuty (or
//! incident.io), playing one incident through its life over HTTP with real signatures, and
//! printing what a responder sees on the incident as it happens.
//!
//! The relay is composed as `serve` composes it, with its real HTTP adapters pointed at the
//! sandboxes' base URLs: nothing in the use case or the adapters knows it is a demo. The
//! demo only shortens the policy's grace period, and says so.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bridge_relay_sandbox::{Delivery, Incident, Meeting, NewIncident, Person, Sandbox, Tool};
use tokio::net::TcpListener;

use crate::args::{Args, DemoTool};
use crate::secret_files::secret_files;

/// The grace period between the resolve and the end of the meeting, shortened from the
/// deployment's policy so the demo finishes in seconds.
const GRACE_SECONDS: u64 = 2;
/// When the roll call of the paged responders comes after the bridge, shortened from the
/// deployment's five minutes for the same reason.
const ROLL_CALL_SECONDS: u64 = 3;
/// How long a step may take before the demo calls it missing (the relay takes well under a
/// second per step on a laptop; the slack is for a loaded CI machine).
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) struct DemoOptions {
    pub tool: DemoTool,
    pub keep: bool,
    pub listen: SocketAddr,
}

/// A step that did not happen: which, and what was missing.
struct StepFailed {
    step: &'static str,
    missing: String,
}

pub(crate) async fn run(options: DemoOptions) -> Result<(), String> {
    let dir = demo_dir()?;
    let log = dir.join("relay.log");
    init_file_tracing(&log)?;
    // Set once the demo has passed and waits (`--keep`) for Ctrl-C to end it.
    let kept = AtomicBool::new(false);
    // Ctrl-C drops the play, and with it the sandboxes; the relay's tasks end with the process.
    let outcome = tokio::select! {
        outcome = play(&options, &dir, &log, &kept) => outcome.map_err(Some),
        _ = crate::serve::shutdown_signal() => match kept.load(Ordering::SeqCst) {
            true => Ok(()),
            false => Err(None),
        },
    };
    match outcome {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        }
        Err(None) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err("interrupted; everything the demo started is stopped".to_owned())
        }
        Err(Some(failed)) => {
            eprintln!("the relay's log is kept in {}", log.display());
            Err(failed)
        }
    }
}

fn demo_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("bridge-relay-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    Ok(dir)
}

/// The relay's own log goes to a file: the terminal shows the incident's timeline.
fn init_file_tracing(log: &Path) -> Result<(), String> {
    let file =
        std::fs::File::create(log).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_target(false)
        .compact()
        .init();
    Ok(())
}

async fn play(
    options: &DemoOptions,
    dir: &Path,
    log: &Path,
    kept: &AtomicBool,
) -> Result<(), String> {
    let http = bridge_relay::http::client();
    let sandbox = Sandbox::start(http.clone())
        .await
        .map_err(|e| e.to_string())?;
    let credentials = sandbox.credentials();
    let secrets_file = dir.join("secrets.json");
    let policy_file = dir.join("policy.json");
    write(&secrets_file, &credentials.secret_document().to_string())?;
    write(&policy_file, &demo_policy())?;

    let env = [
        ("ZOOM_HOST_USER", credentials.host_user.clone()),
        ("ZOOM_API_BASE", sandbox.zoom_api_base()),
        ("ZOOM_OAUTH_BASE", sandbox.zoom_oauth_base()),
        ("PAGERDUTY_API_BASE", sandbox.pagerduty_api_base()),
        ("INCIDENT_IO_API_BASE", sandbox.incident_io_api_base()),
        ("POLICY_FILE", policy_file.display().to_string()),
    ];
    let config = bridge_relay::config::Env(|name: &str| {
        env.iter()
            .find(|(var, _)| *var == name)
            .map(|(_, value)| value.clone())
    })
    .local()
    .map_err(|e| e.to_string())?;
    let args = Args {
        secrets_file: Some(secrets_file.display().to_string()),
        ..Args::default()
    };
    let (ingress_secrets, worker_secrets) = secret_files(&args, config.secret_ttl)?;
    let relay =
        bridge_relay::compose::local_relay(config, ingress_secrets, worker_secrets, http.clone());

    let (listener, moved) = listen(options.listen).await?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let relay_url = format!("http://{address}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve::serve_until(relay, listener, async {
        let _ = stopped.await;
    }));
    sandbox
        .subscribe(&relay_url)
        .await
        .map_err(|e| e.to_string())?;

    let tool = match options.tool {
        DemoTool::Pagerduty => Tool::PagerDuty,
        DemoTool::IncidentIo => Tool::IncidentIo,
    };
    println!(
        "bridge-relay demo: one {} incident through its life, against sandboxes of Zoom and {}",
        tool.name(),
        tool.name()
    );
    println!(
        "  sandboxes  {} (they check auth, From, bodies, the newest Zoom token only, the daily create limit)",
        sandbox.url()
    );
    if let Some(taken) = moved {
        println!(
            "  relay      {relay_url} ({taken} is in use, so another port); its log: {}",
            log.display()
        );
    } else {
        println!(
            "  relay      {relay_url}, the local runner (`serve`); its log: {}",
            log.display()
        );
    }
    println!(
        "  shortened  the roll call comes {ROLL_CALL_SECONDS} s after the bridge (policy `health.roll_call_after_seconds: {ROLL_CALL_SECONDS}`), the meeting ends {GRACE_SECONDS} s after the resolve (`end_grace_seconds: {GRACE_SECONDS}`), Zoom's summary comes at once"
    );

    let started = Instant::now();
    let played = script(&sandbox, tool).await;
    let verdict = match &played {
        Ok(incident) => Ok(verdict(&sandbox, incident, started.elapsed())),
        Err(failed) => Err(format!(
            "demo failed at \"{}\": {}",
            failed.step, failed.missing
        )),
    };
    match &verdict {
        Ok(line) | Err(line) => println!("\n{line}"),
    }
    if options.keep && verdict.is_ok() {
        print_keep(&sandbox, tool, &relay_url, dir, played.as_ref().ok());
        kept.store(true, Ordering::SeqCst);
        std::future::pending::<()>().await;
    }
    let _ = stop.send(());
    let _ = server.await;
    drop(sandbox);
    verdict
        .map(drop)
        .map_err(|_| "the demo did not pass (see above)".to_owned())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The deployment's defaults, with an early roll call, the meeting ended after a short grace
/// and the summary on.
fn demo_policy() -> String {
    serde_json::json!({
        "meeting": {
            "on_resolve": "end",
            "end_grace_seconds": GRACE_SECONDS,
            "health": {"roll_call_after_seconds": ROLL_CALL_SECONDS},
            "after_call": {"summary": true, "recording": false, "transcript": false},
        }
    })
    .to_string()
}

/// `wanted`, or when that port is taken, any free one (returned with the taken address).
async fn listen(wanted: SocketAddr) -> Result<(TcpListener, Option<SocketAddr>), String> {
    match TcpListener::bind(wanted).await {
        Ok(listener) => Ok((listener, None)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let any = SocketAddr::new(wanted.ip(), 0);
            let listener = TcpListener::bind(any)
                .await
                .map_err(|e| format!("cannot listen on {any}: {e}"))?;
            Ok((listener, Some(wanted)))
        }
        Err(e) => Err(format!("cannot listen on {wanted}: {e}")),
    }
}

/// The incident's life, step by step; each waits until what a responder would see is there.
async fn script(sandbox: &Sandbox, tool: Tool) -> Result<Incident, StepFailed> {
    let earline = Person::new("Earline Greenholt", "earline@sandbox.example");
    let grace = Person::new("Grace Hopper", "grace@sandbox.example");
    let mut shown = Shown::default();

    let step = "triggered: bridge and note";
    let (id, delivery) = sandbox
        .trigger(
            tool,
            NewIncident {
                title: "Checkout API returns 5xx after the 4.2 deploy".into(),
                service: "checkout-api".into(),
                urgency: match tool {
                    Tool::PagerDuty => "high".into(),
                    Tool::IncidentIo => "Major".into(),
                },
                assignee: earline.clone(),
            },
        )
        .await
        .map_err(|e| failed(step, e.to_string()))?;
    let incident = sandbox
        .incident(&id)
        .ok_or_else(|| failed(step, format!("no incident {id}")))?;
    println!(
        "\n1. {} opens incident {} \"{}\" ({}, {}), assigned to {}",
        tool.name(),
        incident.reference,
        incident.title,
        incident.service,
        incident.urgency,
        earline.name
    );
    accepted(step, &delivery)?;
    wait(sandbox, &id, step, STEP_TIMEOUT, &mut shown, |i| {
        i.bridge.is_some() && any_note(i, "Zoom bridge opened")
    })
    .await?;
    let meeting = wait_for_meeting(
        sandbox,
        &id,
        step,
        "gives the assigned responder no host controls",
        |m| m.alternative_hosts.contains(&earline.email),
    )
    .await?;
    println!(
        "   Zoom    host controls (alternative hosts): {}",
        meeting.alternative_hosts.join(", ")
    );

    let step = "a responder joins the call";
    let meeting = sandbox
        .meetings_for(&id)
        .first()
        .map(|m| m.id)
        .ok_or_else(|| failed(step, "Zoom has no meeting for the incident".into()))?;
    println!(
        "\n2. {} joins the Zoom meeting (Zoom sends signed meeting events)",
        earline.name
    );
    for delivery in sandbox
        .join(meeting, &earline)
        .await
        .map_err(|e| failed(step, e.to_string()))?
    {
        accepted(step, &delivery)?;
    }
    wait(sandbox, &id, step, STEP_TIMEOUT, &mut shown, |i| {
        any_note(i, "joined")
    })
    .await?;
    let step = "the roll call: who of the paged is on the call";
    println!(
        "   ({ROLL_CALL_SECONDS} s after the bridge, the relay checks who of the paged responders is on the call)"
    );
    wait(sandbox, &id, step, STEP_TIMEOUT, &mut shown, |i| {
        any_note(i, "Roll call of the Zoom meeting")
    })
    .await?;

    let step = "retitled and reassigned: the meeting's topic and hosts follow";
    let title = "Checkout API 5xx: 4.2 deploy rolled back, errors dropping";
    println!(
        "\n3. {} retitles the incident \"{title}\" and reassigns it to {}",
        tool.name(),
        grace.name
    );
    sandbox
        .retitle(&id, title)
        .map_err(|e| failed(step, e.to_string()))?;
    let delivery = sandbox
        .reassign(&id, &grace)
        .await
        .map_err(|e| failed(step, e.to_string()))?;
    accepted(step, &delivery)?;
    let meeting = wait_for_meeting(
        sandbox,
        &id,
        step,
        "does not name the new title, or give the new responder host controls",
        |m| m.topic.contains(title) && m.alternative_hosts.contains(&grace.email),
    )
    .await?;
    println!(
        "   Zoom    the meeting's topic is now \"{}\"",
        meeting.topic
    );
    println!(
        "   Zoom    host controls (alternative hosts): {}",
        meeting.alternative_hosts.join(", ")
    );

    let step = "resolved: the meeting ends after the grace period";
    println!("\n4. {} resolves the incident", tool.name());
    let delivery = sandbox
        .resolve(&id)
        .await
        .map_err(|e| failed(step, e.to_string()))?;
    accepted(step, &delivery)?;
    wait(sandbox, &id, step, STEP_TIMEOUT, &mut shown, |i| {
        any_note(i, "bridge-relay ended the Zoom meeting")
    })
    .await?;
    let ended = sandbox
        .meetings_for(&id)
        .first()
        .is_some_and(|m| m.ended_by_api);
    if !ended {
        return Err(failed(
            step,
            "Zoom's meeting was not ended through its API".into(),
        ));
    }

    let step = "Zoom's summary on the timeline";
    println!("\n5. Zoom's AI Companion finishes the meeting summary (a signed Zoom event)");
    wait(sandbox, &id, step, STEP_TIMEOUT, &mut shown, |i| {
        any_note(i, "Zoom meeting summary")
    })
    .await
}

/// Waits until the incident's Zoom meeting is as `wanted` says (`what`, for the failure);
/// returns the meeting.
async fn wait_for_meeting(
    sandbox: &Sandbox,
    id: &str,
    step: &'static str,
    what: &str,
    wanted: impl Fn(&Meeting) -> bool,
) -> Result<Meeting, StepFailed> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Some(meeting) = sandbox.meetings_for(id).into_iter().next().filter(&wanted) {
            return Ok(meeting);
        }
        if Instant::now() >= deadline {
            return Err(failed(
                step,
                format!("the Zoom meeting {what} after {} s", STEP_TIMEOUT.as_secs()),
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn failed(step: &'static str, missing: String) -> StepFailed {
    StepFailed { step, missing }
}

fn accepted(step: &'static str, delivery: &Delivery) -> Result<(), StepFailed> {
    println!(
        "   {} -> relay: {} {}",
        delivery.event, delivery.status, delivery.answer
    );
    if delivery.accepted() {
        Ok(())
    } else {
        Err(failed(
            step,
            format!(
                "the relay answered {} {} to {}",
                delivery.status, delivery.answer, delivery.event
            ),
        ))
    }
}

fn any_note(incident: &Incident, text: &str) -> bool {
    incident.notes.iter().any(|n| n.content.contains(text))
}

/// What of the incident has been printed already.
#[derive(Default)]
struct Shown {
    notes: usize,
    bridge: Option<bridge_relay_sandbox::Bridge>,
}

/// Polls the sandbox's incident, printing what appears, until `done` holds or the step times out.
async fn wait(
    sandbox: &Sandbox,
    id: &str,
    step: &'static str,
    timeout: Duration,
    shown: &mut Shown,
    done: impl Fn(&Incident) -> bool,
) -> Result<Incident, StepFailed> {
    let deadline = Instant::now() + timeout;
    loop {
        let incident = sandbox
            .incident(id)
            .ok_or_else(|| failed(step, format!("no incident {id}")))?;
        if incident.bridge != shown.bridge {
            if let Some(bridge) = &incident.bridge {
                println!(
                    "   bridge  {}",
                    bridge.url.as_deref().unwrap_or("(no link)")
                );
                if let Some(number) = &bridge.number {
                    println!("           one-touch dial-in {number}");
                }
            }
            shown.bridge = incident.bridge.clone();
        }
        for note in incident.notes.iter().skip(shown.notes) {
            let mut lines = note.content.lines();
            println!("   note    {}", lines.next().unwrap_or_default());
            for line in lines {
                println!("           {line}");
            }
        }
        shown.notes = incident.notes.len();
        if done(&incident) {
            return Ok(incident);
        }
        if Instant::now() >= deadline {
            return Err(failed(
                step,
                format!("not there after {:.1} s", timeout.as_secs_f64()),
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The one-line verdict: what the incident got, or what is wrong with it.
fn verdict(sandbox: &Sandbox, incident: &Incident, took: Duration) -> String {
    let meetings = sandbox.meetings_for(&incident.id);
    let leaked = meetings.iter().any(|m| {
        incident
            .notes
            .iter()
            .any(|n| n.content.contains(&m.start_url))
            || incident
                .bridge
                .as_ref()
                .and_then(|b| b.url.as_deref())
                .is_some_and(|u| u == m.start_url)
    });
    let refused: Vec<String> = sandbox
        .deliveries()
        .iter()
        .filter(|d| !d.accepted())
        .map(|d| format!("{} ({})", d.event, d.status))
        .collect();
    let problems: Vec<String> = [
        (meetings.len() != 1).then(|| format!("{} Zoom meetings", meetings.len())),
        (incident.bridge_updates != 1)
            .then(|| format!("the bridge set {} times", incident.bridge_updates)),
        leaked.then(|| "the host's start_url reached the incident".to_owned()),
        (!refused.is_empty()).then(|| format!("webhooks refused: {}", refused.join(", "))),
    ]
    .into_iter()
    .flatten()
    .collect();
    if problems.is_empty() {
        format!(
            "demo passed: {} incident {} got one Zoom meeting and one bridge, {} notes, the meeting ended {GRACE_SECONDS} s after the resolve and Zoom's summary is on the timeline ({:.1} s)",
            incident.tool.name(),
            incident.reference,
            incident.notes.len(),
            took.as_secs_f64()
        )
    } else {
        format!("demo failed: {}", problems.join("; "))
    }
}

/// Prints how to go on by hand; a new incident's webhook is ready in `dir`, for the relay to
/// sign and send.
fn print_keep(
    sandbox: &Sandbox,
    tool: Tool,
    relay_url: &str,
    dir: &Path,
    incident: Option<&Incident>,
) {
    let sandbox_url = sandbox.url();
    let secrets = dir.join("secrets.json");
    let secrets = secrets.display();
    println!("\nThe relay and the sandboxes keep running until Ctrl-C. To drive them by hand:");
    if let Some(incident) = incident {
        println!("  # what a responder sees on the incident (bridge, notes, its Zoom meeting)");
        println!("  curl -s {sandbox_url}/sandbox/incidents/{}", incident.id);
    }
    let new = NewIncident {
        title: "Payments queue backing up".into(),
        service: "payments".into(),
        urgency: "high".into(),
        assignee: Person::new("Grace Hopper", "grace@sandbox.example"),
    };
    let body = dir.join("webhook.json");
    let prepared = sandbox
        .prepare_trigger(tool, new)
        .map_err(|e| e.to_string())
        .and_then(|(id, bytes)| write(&body, &String::from_utf8_lossy(&bytes)).map(|()| id));
    match prepared {
        Ok(id) => {
            let body = body.display();
            println!(
                "  # a new incident {id} is open in the sandbox; sign its webhook and send it to the relay"
            );
            match tool {
                Tool::PagerDuty => println!(
                    "  curl -i {relay_url}/webhook -H \"X-PagerDuty-Signature: $(cargo run -q --bin bridge-relay -- sign --secrets-file {secrets} {body})\" -H 'X-Webhook-Id: by-hand-1' --data-binary @{body}"
                ),
                Tool::IncidentIo => println!(
                    "  eval curl -i {relay_url}/incident-io --data-binary @{body} $(cargo run -q --bin bridge-relay -- sign-incident-io --secrets-file {secrets} {body})"
                ),
            }
            println!("  curl -s {sandbox_url}/sandbox/incidents/{id}");
        }
        Err(e) => println!("  (no webhook to send by hand: {e})"),
    }
    println!("  # every incident in the sandbox");
    println!("  curl -s {sandbox_url}/sandbox/incidents");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet_incident() -> NewIncident {
        NewIncident {
            title: "Nobody answers".into(),
            service: "pager".into(),
            urgency: "high".into(),
            assignee: Person::new("Earline Greenholt", "earline@sandbox.example"),
        }
    }

    #[tokio::test]
    async fn a_step_that_does_not_happen_fails_naming_it() {
        let sandbox = Sandbox::start(bridge_relay::http::client()).await.unwrap();
        // Opened without a webhook: no relay ever hears of it, so no bridge comes.
        let (id, _) = sandbox
            .prepare_trigger(Tool::PagerDuty, quiet_incident())
            .unwrap();
        let waited = wait(
            &sandbox,
            &id,
            "triggered: bridge and note",
            Duration::from_millis(100),
            &mut Shown::default(),
            |i| i.bridge.is_some(),
        )
        .await;
        let failed = waited.err().unwrap();
        assert_eq!(failed.step, "triggered: bridge and note");
        assert_eq!(failed.missing, "not there after 0.1 s");
    }

    #[test]
    fn a_refused_webhook_fails_its_step() {
        let refused = Delivery {
            event: "incident.triggered".into(),
            status: 401,
            answer: "{}".into(),
        };
        let failed = accepted("triggered: bridge and note", &refused)
            .err()
            .unwrap();
        assert_eq!(failed.step, "triggered: bridge and note");
        assert!(
            failed.missing.contains("answered 401"),
            "{}",
            failed.missing
        );
    }
}
