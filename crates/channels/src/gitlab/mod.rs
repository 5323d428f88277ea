//! GitLab: a note (comment) on a merge request or issue, by the notes API
//! (`POST /api/v4/projects/{id}/merge_requests/{iid}/notes`, or `issues`)
//! with a `PRIVATE-TOKEN`, the number rendered per event from the `number`
//! template (e.g. `{{ event.labels.mr }}`).
//!
//! GitLab answers 201; 400, 401, 403 and 404 are permanent; 429 waits for
//! `Retry-After`; 5xx is retried.

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::chat::{self, Comment, TEXT, TITLE};
use crate::http::{self, HttpError};
use crate::{Channel, Delivery, DeliveryError, Destination, Part, Parts, SendContext};

const API_URL: &str = "https://gitlab.com";

/// What the number is the `iid` of.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    #[default]
    MergeRequest,
    Issue,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A personal, project or group access token with the `api` scope (a secret).
    #[schemars(with = "String")]
    pub token: Secret,
    /// The project's id or path (`group/project`).
    pub project: String,
    /// A template over the event rendering the merge request's or issue's
    /// `iid`, e.g. `{{ event.labels.mr }}`.
    pub number: String,
    /// `merge_request` (the default) or `issue`.
    #[serde(default)]
    pub target: Target,
    /// The instance's base URL.
    #[serde(default = "api_url")]
    pub api_url: String,
}

fn api_url() -> String {
    API_URL.to_owned()
}

impl Channel for Config {
    const KIND: &'static str = "gitlab";
    const SECRETS: &'static [SecretField] = &[SecretField::full("token")];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("api_url")];
    type Message = Comment;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        if self.project.trim().is_empty() {
            return Err(FieldError::new(
                "project",
                "required: an id or `group/project`",
            ));
        }
        chat::check_number_template("number", &self.number)?;
        chat::check_url("api_url", &self.api_url)
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Comment, DeliveryError> {
        Comment::render(d.event, parts, &self.number)
    }

    async fn send(&self, message: Comment, cx: &SendContext<'_>) -> Result<(), HttpError> {
        let mut url = url::Url::parse(&self.api_url)
            .map_err(|e| HttpError::Transport(format!("the API URL is invalid: {e}")))?;
        let what = match self.target {
            Target::MergeRequest => "merge_requests",
            Target::Issue => "issues",
        };
        // The project path is one segment, its `/` encoded, as GitLab wants.
        url.path_segments_mut()
            .map_err(|()| HttpError::Transport("the API URL cannot have a path".into()))?
            .pop_if_empty()
            .extend(["api", "v4", "projects", &self.project, what])
            .push(&message.number.to_string())
            .push("notes");
        let request = cx
            .http()
            .post(url)
            .header("private-token", self.token.expose())
            .json(&message.body);
        http::send(request, cx).await.map(drop)
    }
}
