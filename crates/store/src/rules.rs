use std::collections::BTreeMap;

use herald_model::{
    Category, Digest, Group, QuietHours, Rule, RuleSpec, Scope, Severity, Threshold, Throttle,
};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{Store, StoreError};

const SELECT: &str = "
    SELECT r.id, r.name, r.enabled, r.categories, r.kinds, r.severities, r.scope, r.labels,
           r.options, r.created_at, r.updated_at,
           COALESCE(array_agg(rn.notifier_id ORDER BY rn.position)
                    FILTER (WHERE rn.notifier_id IS NOT NULL), '{}') AS notifiers
    FROM rules r LEFT JOIN rule_notifiers rn ON rn.rule_id = r.id";

pub(crate) fn rule(row: &Row) -> Result<Rule, StoreError> {
    let categories = row
        .get::<_, Vec<String>>("categories")
        .iter()
        .map(|c| c.parse::<Category>())
        .collect::<Result<_, _>>()
        .map_err(StoreError::Corrupt)?;
    let severities = row
        .get::<_, Vec<String>>("severities")
        .iter()
        .map(|s| s.parse::<Severity>())
        .collect::<Result<_, _>>()
        .map_err(StoreError::Corrupt)?;
    let labels: BTreeMap<String, String> = serde_json::from_value(row.get("labels"))
        .map_err(|e| StoreError::Corrupt(format!("rule labels: {e}")))?;
    let scope = Scope::parse(row.get("scope")).map_err(StoreError::Corrupt)?;
    let options: Options = serde_json::from_value(row.get("options"))
        .map_err(|e| StoreError::Corrupt(format!("rule options: {e}")))?;
    Ok(Rule {
        id: row.get("id"),
        spec: RuleSpec {
            name: row.get("name"),
            enabled: row.get("enabled"),
            categories,
            kinds: row.get("kinds"),
            severities,
            scope,
            labels,
            condition: options.condition,
            templates: options.templates,
            notifiers: row.get("notifiers"),
            threshold: options.threshold,
            throttle: options.throttle,
            send_resolved: options.send_resolved,
            quiet_hours: options.quiet_hours,
            group: options.group,
            digest: options.digest,
        },
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

/// What a rule holds beyond its matching fields, stored as one document.
#[derive(Debug, Serialize, Deserialize)]
struct Options {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    condition: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    templates: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    threshold: Option<Threshold>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    throttle: Option<Throttle>,
    #[serde(default = "yes")]
    send_resolved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quiet_hours: Option<QuietHours>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<Group>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<Digest>,
}

fn yes() -> bool {
    true
}

impl Options {
    fn of(spec: &RuleSpec) -> serde_json::Value {
        let options = Options {
            condition: spec.condition.clone(),
            templates: spec.templates.clone(),
            threshold: spec.threshold.clone(),
            throttle: spec.throttle.clone(),
            send_resolved: spec.send_resolved,
            quiet_hours: spec.quiet_hours.clone(),
            group: spec.group.clone(),
            digest: spec.digest.clone(),
        };
        serde_json::to_value(options).expect("options are JSON")
    }
}

/// A rule as it was at some configuration version.
#[derive(Debug, Clone)]
pub struct HistoricRule {
    pub id: Uuid,
    pub spec: RuleSpec,
    pub valid_from: i64,
}

/// What a sender needs of a rule to render the notifications it selected.
#[derive(Debug, Clone)]
pub struct RuleLayer {
    pub id: Uuid,
    pub name: String,
    pub templates: BTreeMap<String, String>,
}

fn texts<T: std::fmt::Display>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

impl Store {
    pub async fn create_rule(&self, id: Uuid, spec: &RuleSpec) -> Result<Rule, StoreError> {
        self.write_rule(id, spec, true).await
    }

    pub async fn update_rule(&self, id: Uuid, spec: &RuleSpec) -> Result<Rule, StoreError> {
        self.write_rule(id, spec, false).await
    }

    async fn write_rule(
        &self,
        id: Uuid,
        spec: &RuleSpec,
        create: bool,
    ) -> Result<Rule, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(StoreError::query("begin"))?;
        let missing = tx
            .query_opt(
                "SELECT x FROM unnest($1::uuid[]) AS x WHERE x NOT IN (SELECT id FROM notifiers) LIMIT 1",
                &[&spec.notifiers],
            )
            .await
            .map_err(StoreError::query("check rule notifiers"))?;
        if let Some(row) = missing {
            let unknown: Uuid = row.get(0);
            return Err(StoreError::UnknownReference {
                field: "notifiers",
                message: format!("no notifier has the id {unknown}"),
            });
        }
        let labels = serde_json::to_value(&spec.labels).expect("a string map is JSON");
        let options = Options::of(spec);
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
            &id,
            &spec.name,
            &spec.enabled,
            &texts(&spec.categories),
            &spec.kinds,
            &texts(&spec.severities),
            &spec.scope.as_str(),
            &labels,
            &options,
        ];
        let sql = if create {
            "INSERT INTO rules (id, name, enabled, categories, kinds, severities, scope, labels, options)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        } else {
            "UPDATE rules SET name = $2, enabled = $3, categories = $4, kinds = $5, severities = $6,
                    scope = $7, labels = $8, options = $9, updated_at = now()
             WHERE id = $1"
        };
        let n = tx
            .execute(sql, &params)
            .await
            .map_err(StoreError::query("write rule"))
            .map_err(StoreError::unique_name("rule", &spec.name))?;
        if n == 0 {
            return Err(StoreError::not_found("rule", id));
        }
        tx.execute("DELETE FROM rule_notifiers WHERE rule_id = $1", &[&id])
            .await
            .map_err(StoreError::query("clear rule notifiers"))?;
        tx.execute(
            "INSERT INTO rule_notifiers (rule_id, notifier_id, position)
             SELECT $1, n, p FROM unnest($2::uuid[]) WITH ORDINALITY AS t(n, p)",
            &[&id, &spec.notifiers],
        )
        .await
        .map_err(StoreError::query("link rule notifiers"))?;
        let spec = serde_json::to_value(spec).expect("a rule is JSON");
        tx.execute(
            "WITH closed AS (
                UPDATE rule_history SET valid_to = (SELECT version FROM config_version)
                WHERE rule_id = $1 AND valid_to IS NULL
             )
             INSERT INTO rule_history (rule_id, valid_from, spec)
             SELECT $1, version, $2 FROM config_version",
            &[&id, &spec],
        )
        .await
        .map_err(StoreError::query("keep rule history"))?;
        let row = tx
            .query_one(&format!("{SELECT} WHERE r.id = $1 GROUP BY r.id"), &[&id])
            .await
            .map_err(StoreError::query("read rule"))?;
        tx.commit()
            .await
            .map_err(StoreError::query("commit rule"))?;
        rule(&row)
    }

    pub async fn get_rule(&self, id: Uuid) -> Result<Rule, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(&format!("{SELECT} WHERE r.id = $1 GROUP BY r.id"), &[&id])
            .await
            .map_err(StoreError::query("get rule"))?
            .ok_or_else(|| StoreError::not_found("rule", id))?;
        rule(&row)
    }

    pub async fn list_rules(&self) -> Result<Vec<Rule>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(&format!("{SELECT} GROUP BY r.id ORDER BY r.name"), &[])
            .await
            .map_err(StoreError::query("list rules"))?;
        rows.iter().map(rule).collect()
    }

    pub async fn delete_rule(&self, id: Uuid) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(StoreError::query("begin"))?;
        let n = tx
            .execute("DELETE FROM rules WHERE id = $1", &[&id])
            .await
            .map_err(StoreError::query("delete rule"))?;
        if n == 0 {
            return Err(StoreError::not_found("rule", id));
        }
        tx.execute(
            "UPDATE rule_history SET valid_to = (SELECT version FROM config_version)
             WHERE rule_id = $1 AND valid_to IS NULL",
            &[&id],
        )
        .await
        .map_err(StoreError::query("keep rule history"))?;
        tx.commit()
            .await
            .map_err(StoreError::query("commit rule deletion"))
    }

    /// Every rule as it was at configuration `version`, oldest first.
    pub async fn rules_at(&self, version: i64) -> Result<Vec<HistoricRule>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT rule_id, valid_from, spec FROM rule_history
                 WHERE valid_from <= $1 AND (valid_to IS NULL OR valid_to > $1)
                 ORDER BY rule_id",
                &[&version],
            )
            .await
            .map_err(StoreError::query("read rule history"))?;
        rows.iter()
            .map(|row| {
                let spec = serde_json::from_value(row.get("spec"))
                    .map_err(|e| StoreError::Corrupt(format!("rule history: {e}")))?;
                Ok(HistoricRule {
                    id: row.get("rule_id"),
                    spec,
                    valid_from: row.get("valid_from"),
                })
            })
            .collect()
    }

    /// Every rule's name and templates, and the configuration version they
    /// are read at.
    pub async fn rule_layers(&self) -> Result<(i64, Vec<RuleLayer>), StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(StoreError::query("begin"))?;
        let version: i64 = tx
            .query_one("SELECT version FROM config_version", &[])
            .await
            .map_err(StoreError::query("read config version"))?
            .get(0);
        let rows = tx
            .query("SELECT id, name, options FROM rules", &[])
            .await
            .map_err(StoreError::query("load rule templates"))?;
        tx.commit().await.map_err(StoreError::query("end read"))?;
        let layers = rows
            .iter()
            .map(|row| {
                let options: Options = serde_json::from_value(row.get("options"))
                    .map_err(|e| StoreError::Corrupt(format!("rule options: {e}")))?;
                Ok(RuleLayer {
                    id: row.get("id"),
                    name: row.get("name"),
                    templates: options.templates,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((version, layers))
    }

    pub(crate) async fn enabled_rules(
        client: &tokio_postgres::Transaction<'_>,
    ) -> Result<Vec<Rule>, StoreError> {
        let rows = client
            .query(&format!("{SELECT} WHERE r.enabled GROUP BY r.id"), &[])
            .await
            .map_err(StoreError::query("load rules"))?;
        rows.iter().map(rule).collect()
    }
}
