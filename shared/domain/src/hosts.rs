//! Host controls for responders: which of an incident's responders may be the meeting's
//! alternative hosts (Zoom accepts only active, licensed users of the host's own account, and
//! refuses a whole update for one entry that is not), which ones the meeting should have, and
//! how the incident is told of those who cannot be.

use serde::{Deserialize, Serialize};

/// Which of the incident's responders are the meeting's alternative hosts (Zoom's host
/// controls: mute, admit, record, end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MeetingHosts {
    /// Every responder the incident has had: host controls are never taken away during the
    /// incident, since the one who lost them may be running the call.
    #[default]
    Accumulate,
    /// The incident's current responders only: a reassignment moves host controls.
    Current,
    /// No responder gets host controls; the relay never sets them.
    None,
}

/// Responders read from one event. Zoom documents no count for `alternative_hosts`; an
/// incident with hundreds of assignees is a broadcast, not a call, and each responder may
/// cost two look-ups.
pub const MAX_RESPONDERS: usize = 50;

/// Alternative hosts the relay sets on one meeting (the oldest go first when accumulating).
pub const MAX_ALTERNATIVE_HOSTS: usize = 50;

/// The longest e-mail address (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;

/// Whether a responder can be given host controls, as Zoom answered for their e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostVerdict {
    /// An active, licensed user of the host's Zoom account.
    Eligible,
    /// The incident tool has no usable e-mail for them.
    NoEmail,
    /// Zoom has no user with their e-mail in the account.
    NotInAccount,
    /// A Zoom user of the account, but a Basic one (no license).
    NotLicensed,
    /// A Zoom user of the account who is deactivated or has not accepted the invitation.
    NotActive,
    /// Zoom refused them as an alternative host when the meeting was updated.
    RefusedByZoom,
}

impl HostVerdict {
    /// Why they are not a host, and what would make them one, for the note.
    pub fn reason(self) -> &'static str {
        match self {
            HostVerdict::Eligible => "is a host",
            HostVerdict::NoEmail => {
                "has no e-mail address in the incident tool (add one to their profile)"
            }
            HostVerdict::NotInAccount => {
                "is not a user of the Zoom account that hosts the meeting (a Zoom admin can add them with their incident-tool e-mail)"
            }
            HostVerdict::NotLicensed => {
                "is a Basic user of the Zoom account; alternative hosts need a license (a Zoom admin can assign one)"
            }
            HostVerdict::NotActive => {
                "is deactivated or has not accepted the Zoom account's invitation yet"
            }
            HostVerdict::RefusedByZoom => {
                "was refused by Zoom as an alternative host (check their Zoom user and the account's alternative-host settings)"
            }
        }
    }
}

/// What is known of one responder: their e-mail (as compared, see [`normalize_email`]) and
/// Zoom's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub verdict: HostVerdict,
}

impl HostCheck {
    pub fn no_email() -> HostCheck {
        HostCheck {
            email: None,
            verdict: HostVerdict::NoEmail,
        }
    }
}

/// An e-mail as Zoom compares it: trimmed, lower case; `None` for what cannot be one (no `@`,
/// spaces or `;` inside, which would split Zoom's `;`-separated list, or too long).
pub fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim();
    let (local, domain) = email.split_once('@')?;
    let usable = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.chars().count() <= MAX_EMAIL_CHARS
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ';' | ',' | '"'));
    usable.then(|| email.to_lowercase())
}

/// The alternative hosts the meeting should have: under `Accumulate` (and for an event that
/// only references the incident) everyone it had and the `eligible` responders now; under
/// `Current` the eligible ones alone; under `None`, nothing is set (`None`). Sorted, without
/// repeats, at most [`MAX_ALTERNATIVE_HOSTS`] (the newest kept).
pub fn wanted_hosts(
    mode: MeetingHosts,
    previous: &[String],
    eligible: &[String],
    reference_only: bool,
) -> Option<Vec<String>> {
    let keep_previous = match mode {
        MeetingHosts::None => return None,
        MeetingHosts::Accumulate => true,
        MeetingHosts::Current => reference_only,
    };
    let mut hosts: Vec<String> = Vec::new();
    let older = if keep_previous { previous } else { &[] };
    // Newest first, so the cap drops the oldest.
    for email in eligible.iter().chain(older.iter()) {
        if !hosts.contains(email) && hosts.len() < MAX_ALTERNATIVE_HOSTS {
            hosts.push(email.clone());
        }
    }
    hosts.sort();
    Some(hosts)
}

/// The one note naming the responders who cannot be given host controls, with why.
pub fn not_hosts_note(refused: &[(String, HostVerdict)]) -> String {
    let mut note = String::from(
        "Not given host controls of the Zoom meeting (everyone can still join with the link):",
    );
    for (name, verdict) in refused {
        note.push_str(&format!("\n- {name} {}", verdict.reason()));
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(emails: &[&str]) -> Vec<String> {
        emails.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn emails_are_compared_trimmed_and_in_lower_case() {
        assert_eq!(
            normalize_email("  Grace.Hopper@Example.COM "),
            Some("grace.hopper@example.com".into())
        );
        for bad in [
            "",
            "grace",
            "@example.com",
            "grace@",
            "grace@localhost",
            "a;b@example.com",
            "grace hopper@example.com",
            "a@b@example.com",
            "grace@.example.com",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(300));
        assert_eq!(normalize_email(&long), None);
    }

    #[test]
    fn accumulate_keeps_everyone_current_replaces_none_sets_nothing() {
        let previous = list(&["ada@example.com"]);
        let now = list(&["grace@example.com"]);
        assert_eq!(
            wanted_hosts(MeetingHosts::Accumulate, &previous, &now, false),
            Some(list(&["ada@example.com", "grace@example.com"]))
        );
        assert_eq!(
            wanted_hosts(MeetingHosts::Current, &previous, &now, false),
            Some(list(&["grace@example.com"]))
        );
        // An event naming one added responder says nothing of the others.
        assert_eq!(
            wanted_hosts(MeetingHosts::Current, &previous, &now, true),
            Some(list(&["ada@example.com", "grace@example.com"]))
        );
        assert_eq!(
            wanted_hosts(MeetingHosts::None, &previous, &now, false),
            None
        );
    }

    #[test]
    fn the_host_list_is_bounded_and_keeps_the_newest() {
        let previous: Vec<String> = (0..60).map(|n| format!("old{n:02}@example.com")).collect();
        let now = list(&["new@example.com"]);
        let hosts = wanted_hosts(MeetingHosts::Accumulate, &previous, &now, false).unwrap();
        assert_eq!(hosts.len(), MAX_ALTERNATIVE_HOSTS);
        assert!(hosts.contains(&"new@example.com".to_string()));
    }

    #[test]
    fn the_note_names_each_responder_with_why() {
        let note = not_hosts_note(&[
            ("Ada".into(), HostVerdict::NotLicensed),
            ("Linus".into(), HostVerdict::NotInAccount),
        ]);
        assert!(note.contains("\n- Ada is a Basic user"), "{note}");
        assert!(
            note.contains("\n- Linus is not a user of the Zoom account"),
            "{note}"
        );
    }
}
