//! The page's shell: the header with its navigation and who is signed in,
//! notices, and the small pieces every page uses (times, statuses, the CSRF
//! field, buttons that post). The stylesheet and the script are files of this
//! folder, compiled into the binary.

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::session::Session;

pub const CSS: &str = include_str!("static/herald.css");
pub const JS: &str = include_str!("static/herald.js");

/// A message above a page's content.
pub enum Notice {
    None,
    Done(String),
    Error(String),
}

impl Notice {
    /// The notice of a finished action named in a `?done=` query: only the
    /// known words, so a link cannot make the page say anything else.
    pub fn done(word: Option<&str>) -> Notice {
        let text = match word {
            Some("created") => "Created.",
            Some("saved") => "Saved.",
            Some("cloned") => "Cloned.",
            Some("deleted") => "Deleted.",
            Some("replayed") => "Replay queued.",
            Some("discarded") => "Discarded.",
            Some("expired") => "Expired.",
            _ => return Notice::None,
        };
        Notice::Done(text.to_owned())
    }

    fn markup(&self) -> Markup {
        html! {
            @match self {
                Notice::None => {},
                Notice::Done(text) => div.notice.ok role="status" { (text) },
                Notice::Error(text) => div.notice.error role="alert" { (text) },
            }
        }
    }
}

/// The pages in the navigation: path and title.
const NAV: [(&str, &str); 7] = [
    ("/", "Overview"),
    ("/notifiers", "Notifiers"),
    ("/rules", "Rules"),
    ("/activity", "Activity"),
    ("/failures", "Failures"),
    ("/silences", "Silences"),
    ("/monitors", "Monitors"),
];

fn head(title: &str) -> Markup {
    html! {
        (DOCTYPE)
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · Herald" }
        link rel="stylesheet" href="/static/herald.css";
        script src="/static/herald.js" defer {}
    }
}

/// A page of a signed-in session; `current` is the navigation entry it is under.
pub fn page(
    session: &Session,
    current: &str,
    title: &str,
    notice: &Notice,
    body: Markup,
) -> Markup {
    html! {
        (head(title))
        header.top {
            a.brand href="/" { "Herald" }
            nav {
                @for (path, name) in NAV {
                    a href=(path) class=[(path == current).then_some("current")] { (name) }
                }
            }
            div.who {
                span title="signed in as" { (session.caller.name) " · " (session.caller.role) }
                form.inline method="post" action="/sign-out" {
                    (csrf(session))
                    button.link type="submit" { "Sign out" }
                }
            }
        }
        main {
            h1 { (title) }
            (notice.markup())
            (body)
        }
    }
}

/// A page with no session: sign-in, refusals.
pub fn bare_page(title: &str, notice: &Notice, body: Markup) -> Markup {
    html! {
        (head(title))
        header.top { a.brand href="/" { "Herald" } }
        main.narrow {
            h1 { (title) }
            (notice.markup())
            (body)
        }
    }
}

/// The hidden CSRF field every form that posts carries.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A button that posts to `action` (with the CSRF field), asking first when
/// `confirm` is given.
pub fn post_button(session: &Session, action: &str, label: &str, confirm: Option<&str>) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=[confirm] {
            (csrf(session))
            button type="submit" class=[label.eq_ignore_ascii_case("delete").then_some("danger")] { (label) }
        }
    }
}

/// A timestamp of the API, shortened to the second and in UTC.
pub fn time(value: &Value) -> Markup {
    let text = value.as_str().unwrap_or("");
    let short = text.get(..19).map_or(text, |s| s).replace('T', " ");
    html! { @if !text.is_empty() { time datetime=(text) title=(text) { (short) } } }
}

/// A status word as a coloured badge.
pub fn badge(status: &str) -> Markup {
    html! { span class={"badge " (status)} { (status) } }
}

/// `value` as indented JSON, for what has no better form.
pub fn json_block(value: &Value) -> Markup {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    html! { pre.json { (text) } }
}

/// The message shown when a listing is empty.
pub fn empty(what: &str) -> Markup {
    html! { p.empty { (what) } }
}
