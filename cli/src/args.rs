//! The command line's grammar (clap), and [`Args`]: what the commands read, whichever parsed it.

use std::net::SocketAddr;

use bridge_relay::config::Env;

/// The relay on one machine, and the operator's commands for a deployment.
#[derive(clap::Parser)]
#[command(name = "bridge-relay", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The incident tools `demo` can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DemoTool {
    Pagerduty,
    IncidentIo,
}

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Runs the ingress and the worker in this process: /webhook (V3 webhooks), /action
    /// (Custom Incident Action button), /workflow (Incident Workflow webhook step),
    /// /incident-io and /zoom on http://ADDR, grace timers in process, records in memory.
    ///
    /// Settings come from the same environment variables as the Lambda functions:
    /// ZOOM_HOST_USER and/or ZOOM_HOST_USERS (one required), ZOOM_HOST_MAX_MEETINGS,
    /// ZOOM_HOST_DAILY_CREATES, ZOOM_HOST_SLOT_MAX_AGE_MINUTES, ZOOM_API_BASE, ZOOM_OAUTH_BASE,
    /// PAGERDUTY_API_BASE, INCIDENT_IO_API_BASE, INCIDENT_IO_NOTIFY_CHANNEL, POLICY_FILE or
    /// POLICY, BRIDGE_EVENT_TYPES, SECRET_CACHE_TTL_SECONDS, OVERWRITE_EXISTING_BRIDGE.
    Serve {
        #[command(flatten)]
        secrets: SecretFiles,
        /// The policy document (stands in for POLICY_FILE).
        #[arg(long, value_name = "FILE")]
        policy_file: Option<String>,
        /// Where the ingress listens.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
    },
    /// Plays one incident through its life against built-in sandboxes of Zoom and PagerDuty (or
    /// incident.io): no accounts, no network, no Docker. Prints what a responder sees on the
    /// incident (the bridge, each note) step by step, then a one-line verdict; exits non-zero,
    /// naming the step, if one does not happen.
    Demo {
        /// The incident tool to play the incident in.
        #[arg(long, value_enum, default_value = "pagerduty")]
        tool: DemoTool,
        /// Leave the relay and the sandboxes running afterwards (until Ctrl-C) and print
        /// commands to drive them by hand.
        #[arg(long)]
        keep: bool,
        /// Where the relay listens; when the port is in use, another is picked.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
    },
    /// Prints the X-PagerDuty-Signature value for BODY_FILE, signed with the first
    /// pagerduty.webhook_secrets entry; with --zoom, the headers Zoom would send.
    Sign {
        #[command(flatten)]
        secrets: IngressSecretFile,
        /// Print the x-zm-request-timestamp (now) and x-zm-signature headers instead, signed
        /// with zoom.webhook_secret_token.
        #[arg(long)]
        zoom: bool,
        #[arg(value_name = "BODY_FILE")]
        body_file: String,
    },
    /// Prints the webhook-id, webhook-timestamp and webhook-signature headers incident.io would
    /// send for BODY_FILE now (as curl -H arguments), signed with the first
    /// incident_io.webhook_secrets entry.
    SignIncidentIo {
        #[command(flatten)]
        secrets: IngressSecretFile,
        #[arg(value_name = "BODY_FILE")]
        body_file: String,
    },
    /// Creates (or updates) the PagerDuty V3 webhook subscription that sends incidents of each
    /// service or team (none given: the whole account) to the URL, and prints the signing secret
    /// of each new subscription once.
    ///
    /// The API token comes from PAGERDUTY_API_TOKEN or the (worker's) secrets file; the events
    /// from --events, else the policy's event types; the API from PAGERDUTY_API_BASE (default
    /// https://api.pagerduty.com).
    Subscribe {
        /// The stack's WebhookUrl (required; the command says so when it is missing).
        #[arg(long, value_name = "WEBHOOK_URL")]
        url: Option<String>,
        #[arg(long = "service", value_name = "ID")]
        services: Vec<String>,
        #[arg(long = "team", value_name = "ID")]
        teams: Vec<String>,
        /// Comma-separated event types.
        #[arg(long, value_name = "LIST")]
        events: Option<String>,
        #[arg(long, value_name = "FILE")]
        policy_file: Option<String>,
        #[arg(long, value_name = "FILE")]
        secrets_file: Option<String>,
        #[arg(long, value_name = "FILE")]
        worker_secrets_file: Option<String>,
    },
    /// Checks a deployment without creating anything: the secrets parse (one serving both
    /// functions, or the ingress's and the worker's, each with its keys and the ingress's with
    /// no API credential), Zoom gives a token, the host user can host, PagerDuty accepts the key
    /// and knows the From user, and a webhook subscription sends BRIDGE_EVENT_TYPES to the
    /// stack's WebhookUrl; with an incident_io section, that incident.io accepts its key.
    ///
    /// One line per check, with a fix for each failure; exits 1 on a failure. Reads
    /// ZOOM_HOST_USER, ZOOM_API_BASE, ZOOM_OAUTH_BASE, PAGERDUTY_API_BASE and
    /// BRIDGE_EVENT_TYPES as the worker does.
    Doctor {
        /// The one secret serving both functions.
        #[arg(long, value_name = "ARN")]
        secret_id: Option<String>,
        #[arg(long, value_name = "ARN")]
        ingress_secret_id: Option<String>,
        #[arg(long, value_name = "ARN")]
        worker_secret_id: Option<String>,
        #[command(flatten)]
        secrets: SecretFiles,
        /// The stack's IncidentTableName: doctor uses the token the deployment's workers share
        /// (none of theirs is voided). Required with --secret-id or --worker-secret-id; with
        /// a secrets file and no table, doctor fetches a token of its own.
        #[arg(long, value_name = "TABLE", env = "TABLE_NAME")]
        table_name: Option<String>,
        /// The stack's WebhookUrl; without it the subscription is not checked.
        #[arg(long, value_name = "URL")]
        webhook_url: Option<String>,
    },
    /// Moves the jobs of the deployed dead-letter queue back to the job queue once the cause of
    /// their failure is fixed (AWS credentials and region as for the AWS CLI).
    Redrive {
        #[arg(long, value_name = "DEAD_LETTER_QUEUE_URL")]
        from: String,
        #[arg(long, value_name = "JOB_QUEUE_URL")]
        to: String,
    },
}

/// One secrets file with both parts, or the ingress's and the worker's as deployed (the
/// commands check the combination and say what is missing).
#[derive(clap::Args)]
pub(crate) struct SecretFiles {
    /// One secret document with both parts (schema in docs/deploy.md, step 3).
    #[arg(long, value_name = "FILE")]
    pub(crate) secrets_file: Option<String>,
    /// The ingress's part: webhook verification secrets.
    #[arg(long, value_name = "FILE")]
    pub(crate) ingress_secrets_file: Option<String>,
    /// The worker's part: the API credentials.
    #[arg(long, value_name = "FILE")]
    pub(crate) worker_secrets_file: Option<String>,
}

/// The file holding the webhook secrets: one with both parts, or the ingress's.
#[derive(clap::Args)]
pub(crate) struct IngressSecretFile {
    /// One secret document with both parts.
    #[arg(long, value_name = "FILE")]
    pub(crate) secrets_file: Option<String>,
    /// The ingress's part: webhook verification secrets.
    #[arg(long, value_name = "FILE")]
    pub(crate) ingress_secrets_file: Option<String>,
}

/// What the commands read, whichever command parsed it.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) secrets_file: Option<String>,
    pub(crate) ingress_secrets_file: Option<String>,
    pub(crate) worker_secrets_file: Option<String>,
    pub(crate) secret_id: Option<String>,
    pub(crate) ingress_secret_id: Option<String>,
    pub(crate) worker_secret_id: Option<String>,
    pub(crate) webhook_url: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) positional: Vec<String>,
    pub(crate) policy_file: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) services: Vec<String>,
    pub(crate) teams: Vec<String>,
    pub(crate) events: Option<String>,
    pub(crate) zoom: bool,
    pub(crate) table_name: Option<String>,
}

impl From<SecretFiles> for Args {
    fn from(files: SecretFiles) -> Self {
        Args {
            secrets_file: files.secrets_file,
            ingress_secrets_file: files.ingress_secrets_file,
            worker_secrets_file: files.worker_secrets_file,
            ..Args::default()
        }
    }
}

impl From<IngressSecretFile> for Args {
    fn from(files: IngressSecretFile) -> Self {
        Args {
            secrets_file: files.secrets_file,
            ingress_secrets_file: files.ingress_secrets_file,
            ..Args::default()
        }
    }
}

/// The process environment, with `--policy-file` standing in for `POLICY_FILE`.
pub(crate) fn environment(args: &Args) -> Env<impl Fn(&str) -> Option<String> + use<>> {
    let policy_file = args.policy_file.clone();
    Env(move |name: &str| match (name, &policy_file) {
        ("POLICY_FILE", Some(path)) => Some(path.clone()),
        _ => std::env::var(name).ok(),
    })
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command, DemoTool};

    /// Every subcommand: each has its own help, and each is documented.
    const COMMANDS: [&str; 7] = [
        "serve",
        "sign",
        "sign-incident-io",
        "subscribe",
        "doctor",
        "redrive",
        "demo",
    ];

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("bridge-relay").chain(args.iter().copied()))
    }

    #[test]
    fn every_command_has_its_own_flags_and_help() {
        Cli::command().debug_assert();
        for command in COMMANDS {
            let help = parse(&[command, "--help"]).err().map(|e| e.kind());
            assert_eq!(help, Some(clap::error::ErrorKind::DisplayHelp), "{command}");
        }
    }

    #[test]
    fn a_flag_of_another_command_is_refused() {
        let refused = |args: &[&str]| parse(args).err().map(|e| e.kind());
        assert_eq!(
            refused(&["serve", "--secrets-file", "s.json", "--from", "x"]),
            Some(clap::error::ErrorKind::UnknownArgument)
        );
        assert_eq!(
            refused(&[
                "sign",
                "--secrets-file",
                "s.json",
                "--listen",
                "x",
                "body.json"
            ]),
            Some(clap::error::ErrorKind::UnknownArgument)
        );
        assert_eq!(
            refused(&["redrive", "--from", "q"]),
            Some(clap::error::ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(
            refused(&["serve", "--listen", "not-an-address"]),
            Some(clap::error::ErrorKind::ValueValidation)
        );
    }

    /// The words of a documented command line after `bridge-relay`, as a shell would split
    /// them, up to the end of the command (`)` of a `$(...)`, a redirect, a pipe, a comment).
    /// `<Placeholder>` is one word.
    fn shell_words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quote = None;
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '\'' | '"') => quote = Some(c),
                (None, '<') if word.is_empty() => {
                    word.push(c);
                    for c in chars.by_ref() {
                        word.push(c);
                        if c == '>' {
                            break;
                        }
                    }
                }
                (None, ')' | '>' | '|' | ';' | '&') => break,
                (None, '#') if word.is_empty() => break,
                (None, c) if c.is_whitespace() => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                (None, c) => word.push(c),
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
        words
    }

    /// Every `bridge-relay` command of README.md and docs/*.md, with where it is: in shell
    /// blocks the `cargo run ... --bin bridge-relay -- <command>` lines (continued with `\`),
    /// in the prose the code spans that begin with `bridge-relay `.
    fn documented_commands() -> Vec<(String, Vec<String>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut pages = vec![root.join("README.md")];
        let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
            .collect();
        docs.sort();
        pages.extend(docs);
        let mut commands = Vec::new();
        for page in pages {
            let text = std::fs::read_to_string(&page).unwrap();
            let name = page.strip_prefix(&root).unwrap().display().to_string();
            let (mut fenced, mut prose) = (false, String::new());
            let mut continued: Option<(usize, String)> = None;
            for (index, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("```") {
                    fenced = !fenced;
                    continue;
                }
                if !fenced {
                    prose.push_str(line);
                    prose.push(' ');
                    continue;
                }
                let (number, mut joined) = continued.take().unwrap_or((index + 1, String::new()));
                joined.push_str(line);
                if let Some(head) = joined.strip_suffix('\\') {
                    continued = Some((number, format!("{head} ")));
                    continue;
                }
                let mut rest = joined.as_str();
                while let Some(at) = rest.find("--bin bridge-relay -- ") {
                    rest = &rest[at + "--bin bridge-relay -- ".len()..];
                    commands.push((format!("{name}:{number}"), shell_words(rest)));
                }
            }
            for (i, span) in prose.split('`').enumerate() {
                if let Some(command) = span.strip_prefix("bridge-relay ")
                    && i % 2 == 1
                    // `bridge-relay <command> --help` names no command.
                    && !command.starts_with('<')
                {
                    commands.push((format!("{name} (`{span}`)"), shell_words(command)));
                }
            }
        }
        commands
    }

    #[test]
    fn the_readme_commands_parse() {
        let commands = documented_commands();
        let mut failures = Vec::new();
        for (place, words) in &commands {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            if let Err(e) = parse(&words) {
                let error = e.to_string();
                let reason = error.lines().next().unwrap_or_default();
                failures.push(format!(
                    "{place}: bridge-relay {}: {reason}",
                    words.join(" ")
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        for command in COMMANDS {
            assert!(
                commands
                    .iter()
                    .any(|(_, words)| words.first().map(String::as_str) == Some(command)),
                "no documented `bridge-relay {command}` command found"
            );
        }

        let serve = parse(&["serve", "--secrets-file", "examples/secrets.local.json"]).unwrap();
        assert!(matches!(serve.command, Command::Serve { .. }));
        let sign = parse(&["sign", "--secrets-file", "s.json", "--zoom", "body.json"]).unwrap();
        assert!(matches!(sign.command, Command::Sign { zoom: true, .. }));
        let doctor = parse(&[
            "doctor",
            "--secret-id",
            "arn",
            "--table-name",
            "t",
            "--webhook-url",
            "https://x",
        ])
        .unwrap();
        assert!(matches!(doctor.command, Command::Doctor { .. }));
        let demo = parse(&["demo", "--tool", "incident-io", "--keep"]).unwrap();
        assert!(matches!(
            demo.command,
            Command::Demo {
                tool: DemoTool::IncidentIo,
                keep: true,
                ..
            }
        ));
    }
}
