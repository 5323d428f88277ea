//! GitHub: a comment on an issue or pull request,
//! `POST /repos/{owner}/{repo}/issues/{number}/comments` with a token, the
//! number rendered per event from the `number` template (e.g.
//! `{{ event.labels.pr }}`): how a CI run reports back to the pull request
//! it built.
//!
//! GitHub answers 201; 404, 410 and 422 are permanent; 403 and 429 with
//! `Retry-After`, or with `x-ratelimit-remaining: 0`, are rate limits and
//! wait (until `x-ratelimit-reset`); another 403 is permanent; 5xx is
//! retried.

use std::time::Duration;

use herald_model::secret::SecretField;
use herald_model::{FieldError, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::chat::{self, Comment, TEXT, TITLE};
use crate::http::{self, HttpError};
use crate::{Channel, Delivery, DeliveryError, Destination, Disposition, Part, Parts, SendContext};

const API_URL: &str = "https://api.github.com";

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A token that may write issues or pull requests (a secret).
    #[schemars(with = "String")]
    pub token: Secret,
    /// `owner/name`.
    pub repo: String,
    /// A template over the event rendering the issue or pull request
    /// number, e.g. `{{ event.labels.pr }}`.
    pub number: String,
    /// The REST API base URL (`https://ghe.example/api/v3` for GitHub
    /// Enterprise Server).
    #[serde(default = "api_url")]
    pub api_url: String,
}

fn api_url() -> String {
    API_URL.to_owned()
}

impl Channel for Config {
    const KIND: &'static str = "github";
    const SECRETS: &'static [SecretField] = &[SecretField::full("token")];
    const PARTS: &'static [Part] = &[TITLE, TEXT];
    const DESTINATIONS: &'static [Destination] = &[Destination::Url("api_url")];
    type Message = Comment;
    type Error = HttpError;

    fn validate(&self) -> Result<(), FieldError> {
        let parts: Vec<&str> = self.repo.split('/').collect();
        if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
            return Err(FieldError::new("repo", "must be `owner/name`"));
        }
        chat::check_number_template("number", &self.number)?;
        chat::check_url("api_url", &self.api_url)
    }

    fn render(&self, d: &Delivery<'_>, parts: &Parts<'_>) -> Result<Comment, DeliveryError> {
        Comment::render(d.event, parts, &self.number)
    }

    async fn send(&self, message: Comment, cx: &SendContext<'_>) -> Result<(), HttpError> {
        let url = format!(
            "{}/repos/{}/issues/{}/comments",
            self.api_url.trim_end_matches('/'),
            self.repo,
            message.number
        );
        let request = cx
            .http()
            .post(url)
            .bearer_auth(self.token.expose())
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .json(&message.body);
        http::send(request, cx).await.map(drop)
    }

    fn classify(error: &HttpError) -> Disposition {
        match error {
            HttpError::Status {
                status,
                retry_after,
                body,
            } if status.as_u16() == 403 && is_rate_limit(body) => Disposition::Retry {
                after: retry_after.or(Some(Duration::from_secs(60))),
            },
            other => http::classify(other),
        }
    }
}

/// Whether a 403's body is GitHub's rate-limit message ("API rate limit
/// exceeded", "You have exceeded a secondary rate limit").
fn is_rate_limit(body: &str) -> bool {
    body.contains("rate limit")
}
