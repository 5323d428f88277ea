use std::collections::BTreeMap;

use herald_model::{Category, Rule, RuleSpec, Scope, Severity};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{Store, StoreError};

const SELECT: &str = "
    SELECT r.id, r.name, r.enabled, r.categories, r.kinds, r.severities, r.scope, r.labels,
           r.created_at, r.updated_at,
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
            notifiers: row.get("notifiers"),
        },
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
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
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
            &id,
            &spec.name,
            &spec.enabled,
            &texts(&spec.categories),
            &spec.kinds,
            &texts(&spec.severities),
            &spec.scope.as_str(),
            &labels,
        ];
        let sql = if create {
            "INSERT INTO rules (id, name, enabled, categories, kinds, severities, scope, labels)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        } else {
            "UPDATE rules SET name = $2, enabled = $3, categories = $4, kinds = $5, severities = $6,
                    scope = $7, labels = $8, updated_at = now()
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
        let client = self.client().await?;
        let n = client
            .execute("DELETE FROM rules WHERE id = $1", &[&id])
            .await
            .map_err(StoreError::query("delete rule"))?;
        if n == 0 {
            return Err(StoreError::not_found("rule", id));
        }
        Ok(())
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
