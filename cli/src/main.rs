//! `bridge-relay`: the relay on one machine, no AWS account and no Docker.
//!
//!   bridge-relay serve (--secrets-file FILE | --ingress-secrets-file FILE --worker-secrets-file FILE)
//!                      [--listen 127.0.0.1:3000]
//!   bridge-relay demo  [--tool pagerduty|incident-io] [--keep] [--listen 127.0.0.1:3000]
//!   bridge-relay sign  (--secrets-file FILE | --ingress-secrets-file FILE) [--zoom] BODY_FILE
//!   bridge-relay sign-incident-io (--secrets-file FILE | --ingress-secrets-file FILE) BODY_FILE
//!   bridge-relay subscribe --url WEBHOOK_URL [--service ID]... [--team ID]...
//!   bridge-relay doctor (--secret-id ARN | --ingress-secret-id ARN --worker-secret-id ARN
//!                        | --secrets-file FILE | --ingress-secrets-file FILE --worker-secrets-file FILE)
//!                       [--table-name TABLE] [--webhook-url URL]
//!   bridge-relay redrive --from DEAD_LETTER_QUEUE_URL --to JOB_QUEUE_URL

use std::process::ExitCode;

mod args;
mod demo;
mod doctor;
mod redrive;
mod secret_files;
mod serve;
mod sign;
mod subscribe;

use args::{Args, Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    // Usage errors exit 2 with the command's own usage; --help and --version exit 0.
    let cli = <Cli as clap::Parser>::parse();
    let result = match cli.command {
        Command::Serve {
            secrets,
            policy_file,
            listen,
        } => {
            serve::run(Args {
                policy_file,
                listen: Some(listen),
                ..secrets.into()
            })
            .await
        }
        Command::Demo { tool, keep, listen } => {
            demo::run(demo::DemoOptions { tool, keep, listen }).await
        }
        Command::Sign {
            secrets,
            zoom,
            body_file,
        } => {
            sign::sign(Args {
                zoom,
                positional: vec![body_file],
                ..secrets.into()
            })
            .await
        }
        Command::SignIncidentIo { secrets, body_file } => {
            sign::sign_incident_io(Args {
                positional: vec![body_file],
                ..secrets.into()
            })
            .await
        }
        Command::Subscribe {
            url,
            services,
            teams,
            events,
            policy_file,
            secrets_file,
            worker_secrets_file,
        } => {
            subscribe::command(Args {
                url,
                services,
                teams,
                events,
                policy_file,
                secrets_file,
                worker_secrets_file,
                ..Args::default()
            })
            .await
        }
        Command::Doctor {
            secret_id,
            ingress_secret_id,
            worker_secret_id,
            secrets,
            table_name,
            webhook_url,
        } => {
            doctor::run(Args {
                secret_id,
                ingress_secret_id,
                worker_secret_id,
                table_name: table_name.filter(|t| !t.is_empty()),
                webhook_url,
                ..secrets.into()
            })
            .await
        }
        Command::Redrive { from, to } => {
            redrive::run(Args {
                from: Some(from),
                to: Some(to),
                ..Args::default()
            })
            .await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bridge-relay: {message}");
            ExitCode::FAILURE
        }
    }
}
