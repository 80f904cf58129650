//! The meeting as the relay means it ([`MeetingSpec`]): what the meetings port is asked to
//! create for an incident or its review, in the relay's own terms; the provider's adapter
//! (Zoom's) translates it into its wire body. Also the topic and agenda texts, the markers a
//! lost meeting is found by, and the policy's templates that may fill the topic and agenda.

use std::time::SystemTime;

use crate::model::{AutoRecording, Incident, IncidentToolKind, MeetingOptions};

/// The longest topic: Zoom's limit (its meeting schema's `maxLength`).
pub const TOPIC_MAX_CHARS: usize = 200;
/// The longest agenda: Zoom's limit.
pub const AGENDA_MAX_CHARS: usize = 2000;
const MEETING_MINUTES: u32 = 60;
/// How long the follow-up review meeting is scheduled for.
const REVIEW_MINUTES: u32 = 30;

/// A meeting to create. Settings left `None` keep the provider account's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingSpec {
    pub topic: String,
    /// Its first line carries the marker a lost meeting is found by ([`agenda_marker`]).
    pub agenda: String,
    /// A meeting scheduled to start now (not an instant one) honours join-before-host, so
    /// nobody waits for a host who may never come.
    pub start: SystemTime,
    pub minutes: u32,
    pub passcode: String,
    /// Responders join the moment they click, with no host present.
    pub join_before_host: bool,
    pub waiting_room: bool,
    pub auto_recording: Option<AutoRecording>,
    pub mute_upon_entry: Option<bool>,
    pub meeting_authentication: Option<bool>,
    /// The countries whose dial-in numbers the meeting lists.
    pub dial_in_countries: Option<Vec<String>>,
    /// Who is invited (the follow-up review meeting only).
    pub invitees: Vec<String>,
    /// The host the policy chose for this incident instead of the configured one.
    pub host_user: Option<String>,
}

/// What the meeting says of its incident, kept in step with it: the topic and agenda the
/// policy's templates give for the incident as it is now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MeetingLabels {
    pub topic: String,
    pub agenda: String,
}

/// One change of a meeting: what is `None` stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeetingUpdate {
    pub labels: Option<MeetingLabels>,
    /// The alternative hosts (e-mails), replacing the meeting's; sent without a Zoom e-mail to them.
    pub alternative_hosts: Option<Vec<String>>,
}

impl MeetingUpdate {
    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.alternative_hosts.is_none()
    }
}

impl MeetingLabels {
    /// The labels of the bridge `options` describe for `incident` (the keyed incident, whose
    /// agenda marker a lost meeting is found by).
    pub fn of(incident: &Incident, options: &MeetingOptions) -> MeetingLabels {
        let spec = meeting_spec(incident, options, "", SystemTime::UNIX_EPOCH);
        MeetingLabels {
            topic: spec.topic,
            agenda: spec.agenda,
        }
    }
}

/// The incident's bridge with the relay's defaults, starting at `now`.
pub fn bridge_meeting(incident: &Incident, passcode: &str, now: SystemTime) -> MeetingSpec {
    meeting_spec(incident, &MeetingOptions::default(), passcode, now)
}

/// The bridge the policy's options describe; unset options keep the defaults.
pub fn meeting_spec(
    incident: &Incident,
    options: &MeetingOptions,
    passcode: &str,
    now: SystemTime,
) -> MeetingSpec {
    let topic = match &options.topic {
        Some(template) => truncate(render_template(template, incident).trim(), TOPIC_MAX_CHARS),
        None => topic(incident),
    };
    let agenda = match &options.agenda {
        Some(template) => truncate(
            &format!(
                "{}\n{}",
                agenda_first_line(incident),
                render_template(template, incident)
            ),
            AGENDA_MAX_CHARS,
        ),
        None => agenda(incident),
    };
    MeetingSpec {
        topic,
        agenda,
        start: now,
        minutes: MEETING_MINUTES,
        passcode: passcode.to_owned(),
        join_before_host: options.join_before_host.unwrap_or(true),
        waiting_room: options.waiting_room.unwrap_or(false),
        auto_recording: options.auto_recording,
        mute_upon_entry: options.mute_upon_entry,
        meeting_authentication: options.meeting_authentication,
        dial_in_countries: options.dial_in_countries.clone(),
        invitees: Vec::new(),
        host_user: options.host_user.clone(),
    }
}

/// The marker a lost review meeting is found by: not the bridge's, so neither is mistaken for
/// the other.
pub fn review_marker_id(incident_id: &str) -> String {
    format!("{REVIEW_MARKER_PREFIX}{incident_id}")
}

const REVIEW_MARKER_PREFIX: &str = "review ";

/// The post-incident review meeting: the incident's meeting settings, starting at `start`,
/// with the responders invited. `incident` carries its key for an id (`incident_io:<id>`
/// beyond PagerDuty, see [`crate::model::Job::keyed_incident`]): the agenda's marker is made
/// of it, as the lookup of a lost review is.
pub fn review_spec(
    incident: &Incident,
    options: &MeetingOptions,
    passcode: &str,
    start: SystemTime,
    invitees: &[String],
) -> MeetingSpec {
    let mut spec = meeting_spec(incident, options, passcode, start);
    let (tool, id) = IncidentToolKind::split_key(&incident.id);
    let label = match incident.number {
        Some(n) => format!("#{n}"),
        None => id,
    };
    let title = incident.title.as_deref().unwrap_or("Incident");
    spec.topic = truncate(
        &format!("Post-incident review: [{label}] {title}"),
        TOPIC_MAX_CHARS,
    );
    spec.agenda = truncate(
        &format!(
            "Post-incident review of {} incident {label} {}\n{}",
            tool.display_name(),
            agenda_marker(&review_marker_id(&incident.id)),
            incident.html_url.as_deref().unwrap_or_default()
        ),
        AGENDA_MAX_CHARS,
    );
    spec.minutes = REVIEW_MINUTES;
    spec.invitees = invitees.to_vec();
    spec
}

/// `[#1234] Database latency on checkout`, cut to Zoom's limit on a char boundary.
pub fn topic(incident: &Incident) -> String {
    let label = match incident.number {
        Some(n) => format!("#{n}"),
        None => incident.id.clone(),
    };
    let title = incident.title.as_deref().unwrap_or("Incident");
    truncate(&format!("[{label}] {title}"), TOPIC_MAX_CHARS)
}

/// Identifies the incident in the first line of the agenda: Zoom's meeting list shows only
/// the first 250 characters of an agenda, and that is where a lost meeting is looked for.
pub fn agenda_marker(incident_id: &str) -> String {
    format!("({incident_id})")
}

/// Whether `agenda` is one the relay wrote for `marker_id` (an incident's key, or
/// [`review_marker_id`] of one): its first line must be exactly the line the relay writes
/// first, with that marker. Only the first line counts and only as a whole: the lines after it
/// (the incident's title) and the id inside a marker come from outside, so a title or id that
/// contains another incident's marker must not make that incident's meeting look like its own.
pub fn agenda_marks(agenda: &str, marker_id: &str) -> bool {
    let first = agenda.split('\n').next().unwrap_or_default();
    let marker = format!(" {}", agenda_marker(marker_id));
    let Some(head) = first.strip_suffix(&marker) else {
        return false;
    };
    // The bridge's: `Incident bridge for <tool> incident[ #<number>]`.
    let (tool, _) = IncidentToolKind::split_key(marker_id);
    let bridge = format!("Incident bridge for {} incident", tool.display_name());
    if let Some(number) = head.strip_prefix(&bridge) {
        return number.is_empty() || number.strip_prefix(" #").is_some_and(is_number);
    }
    // The review's: `Post-incident review of <tool> incident <#number or id>`.
    let Some(key) = marker_id.strip_prefix(REVIEW_MARKER_PREFIX) else {
        return false;
    };
    let (tool, id) = IncidentToolKind::split_key(key);
    let review = format!("Post-incident review of {} incident ", tool.display_name());
    head.strip_prefix(&review)
        .is_some_and(|label| label == id || label.strip_prefix('#').is_some_and(is_number))
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// The agenda's first line, which carries the marker a lost meeting is found by.
fn agenda_first_line(incident: &Incident) -> String {
    let number = incident
        .number
        .map(|n| format!(" #{n}"))
        .unwrap_or_default();
    // Incidents of tools other than PagerDuty arrive keyed `<tool>:<id>` (PagerDuty ids have no colon).
    let (tool, _) = IncidentToolKind::split_key(&incident.id);
    format!(
        "Incident bridge for {} incident{number} {}",
        tool.display_name(),
        agenda_marker(&incident.id)
    )
}

fn agenda(incident: &Incident) -> String {
    let mut lines = vec![agenda_first_line(incident)];
    if let Some(title) = &incident.title {
        lines.push(title.clone());
    }
    let facts: Vec<String> = [
        incident.service.as_ref().map(|s| format!("Service: {s}")),
        incident.urgency.as_ref().map(|u| format!("Urgency: {u}")),
        incident.priority.as_ref().map(|p| format!("Priority: {p}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !facts.is_empty() {
        lines.push(facts.join(" | "));
    }
    if let Some(url) = &incident.html_url {
        lines.push(url.clone());
    }
    truncate(&lines.join("\n"), AGENDA_MAX_CHARS)
}

/// Cuts to at most `max` characters, never inside a UTF-8 sequence.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((byte, _)) => text[..byte].to_owned(),
        None => text.to_owned(),
    }
}

/// Placeholders a topic or agenda template may use.
pub const TEMPLATE_FIELDS: &[&str] = &[
    "id", "number", "title", "service", "priority", "urgency", "url",
];

/// A template's placeholders are `{name}` with a name from [`TEMPLATE_FIELDS`].
pub fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err("has a `}` without a `{`".into());
        }
        let after = &rest[open.saturating_add(1)..];
        let close = after
            .find('}')
            .ok_or_else(|| "has a `{` without a `}`".to_owned())?;
        let name = &after[..close];
        if !TEMPLATE_FIELDS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}} (known: {})",
                TEMPLATE_FIELDS
                    .iter()
                    .map(|f| format!("{{{f}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &after[close.saturating_add(1)..];
    }
    Ok(())
}

/// Fills a checked template from the incident; a missing value renders empty (a missing number
/// as the incident id, a missing title as `Incident`).
pub fn render_template(template: &str, incident: &Incident) -> String {
    let mut out = String::with_capacity(template.len().saturating_add(64));
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open.saturating_add(1)..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let value = match &after[..close] {
            "id" => incident.id.clone(),
            "number" => incident
                .number
                .map(|n| n.to_string())
                .unwrap_or_else(|| incident.id.clone()),
            "title" => incident.title.clone().unwrap_or_else(|| "Incident".into()),
            "service" => incident.service.clone().unwrap_or_default(),
            "priority" => incident.priority.clone().unwrap_or_default(),
            "urgency" => incident.urgency.clone().unwrap_or_default(),
            "url" => incident.html_url.clone().unwrap_or_default(),
            other => format!("{{{other}}}"),
        };
        out.push_str(&value);
        rest = &after[close.saturating_add(1)..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn incident(id: &str, number: Option<u64>, title: &str) -> Incident {
        Incident {
            number,
            title: Some(title.to_owned()),
            ..Incident::new(id)
        }
    }

    #[test]
    fn the_agendas_the_relay_writes_carry_their_own_marker_only() {
        let pd = incident("PABC123", Some(42), "Checkout down");
        let io = incident("incident_io:01HZX", None, "Queue stuck");
        let templated = MeetingOptions {
            agenda: Some("{title} (PABC123)".into()),
            ..MeetingOptions::default()
        };
        for (spec, id) in [
            (bridge_meeting(&pd, "1", UNIX_EPOCH), "PABC123"),
            (bridge_meeting(&io, "1", UNIX_EPOCH), "incident_io:01HZX"),
            (meeting_spec(&pd, &templated, "1", UNIX_EPOCH), "PABC123"),
        ] {
            assert!(agenda_marks(&spec.agenda, id), "{}", spec.agenda);
            assert!(!agenda_marks(&spec.agenda, &review_marker_id(id)));
            assert!(!agenda_marks(&spec.agenda, "PABC12"));
        }
        for incident in [&pd, &io] {
            let review = review_spec(incident, &MeetingOptions::default(), "1", UNIX_EPOCH, &[]);
            assert!(agenda_marks(
                &review.agenda,
                &review_marker_id(&incident.id)
            ));
            assert!(!agenda_marks(&review.agenda, &incident.id));
        }
    }

    #[test]
    fn a_title_or_a_second_line_with_a_marker_marks_nothing() {
        let attacker = incident(
            "PATTACK",
            Some(2),
            "Incident bridge for PagerDuty incident #1 (PVICTIM)",
        );
        let agenda = bridge_meeting(&attacker, "1", UNIX_EPOCH).agenda;
        assert!(!agenda_marks(&agenda, "PVICTIM"));
        assert!(agenda_marks(&agenda, "PATTACK"));
        assert!(!agenda_marks(
            "Incident bridge for PagerDuty incident #x (PVICTIM)",
            "PVICTIM"
        ));
        assert!(!agenda_marks(
            "See Incident bridge for PagerDuty incident (PVICTIM)",
            "PVICTIM"
        ));
    }
}
