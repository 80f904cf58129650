//! `bridge-relay sign` and `sign-incident-io`: the headers a tool would send for a body, signed
//! with the local secret, for trying the relay by hand.

use bridge_relay::incident_io::signature as svix;
use bridge_relay::pagerduty::signature;

use crate::args::Args;
use crate::secret_files::signing_cache;

/// `bridge-relay sign`: the PagerDuty signature of a body, or with `--zoom` Zoom's headers.
pub(crate) async fn sign(args: Args) -> Result<(), String> {
    let body_file = args.positional.first().ok_or("sign needs a BODY_FILE")?;
    let secrets = signing_cache(&args)?
        .get()
        .await
        .map_err(|e| e.to_string())?;
    let body = std::fs::read(body_file).map_err(|e| format!("{body_file}: {e}"))?;
    if args.zoom {
        let token = secrets
            .zoom
            .webhook_secret_token
            .as_ref()
            .ok_or("the secrets file has no zoom.webhook_secret_token")?;
        let timestamp = (bridge_relay::telemetry::epoch_millis(std::time::SystemTime::now())
            / 1000)
            .to_string();
        println!("x-zm-request-timestamp: {timestamp}");
        println!(
            "x-zm-signature: {}",
            bridge_relay::zoom::webhook::sign(&timestamp, &body, token)
        );
        return Ok(());
    }
    let secret = secrets
        .pagerduty
        .webhook_secrets
        .first()
        .ok_or("the secrets file has no pagerduty.webhook_secrets")?;
    println!("{}", signature::sign(&body, secret));
    Ok(())
}

/// `bridge-relay sign-incident-io`: the Svix headers incident.io would send for a body now.
pub(crate) async fn sign_incident_io(args: Args) -> Result<(), String> {
    let body_file = args
        .positional
        .first()
        .ok_or("sign-incident-io needs a BODY_FILE")?;
    let secrets = signing_cache(&args)?
        .get()
        .await
        .map_err(|e| e.to_string())?;
    let secret = secrets
        .incident_io
        .as_ref()
        .and_then(|section| section.webhook_secrets.first())
        .ok_or("the secrets file has no incident_io.webhook_secrets")?;
    let body = std::fs::read(body_file).map_err(|e| format!("{body_file}: {e}"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let id = format!("msg_local_{now}");
    let signature = svix::sign(secret, &id, now, &body)
        .ok_or("incident_io.webhook_secrets[0] is not a whsec_ secret")?;
    println!(
        "-H '{}: {id}' -H '{}: {now}' -H '{}: {signature}'",
        svix::ID_HEADER,
        svix::TIMESTAMP_HEADER,
        svix::SIGNATURE_HEADER
    );
    Ok(())
}
