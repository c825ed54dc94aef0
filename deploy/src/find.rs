//! Tasks found by what a screen filters on, in SQL: the states, the host,
//! the image, the kind, and the entities the reader may see.

use sqlx::{QueryBuilder, Row, Sqlite};

use crate::api::TaskSummary;
use crate::error::Result;
use crate::store::Tasks;
use crate::task::{TaskKind, TaskState};

/// What to look for; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    /// Only these states (none: any).
    pub states: Vec<TaskState>,
    /// Only this host's.
    pub host_id: Option<i64>,
    /// Only of this image.
    pub image: Option<String>,
    /// Only captures, or only restores.
    pub kind: Option<TaskKind>,
    /// Only hosts in these entities (`None`: everywhere).
    pub entities: Option<Vec<i64>>,
    /// At most this many, newest first (0: only count them).
    pub limit: u32,
}

/// Tasks found, with the whole count.
#[derive(Debug)]
pub struct TaskPage {
    /// The newest `limit` of them, with their hosts' labels.
    pub tasks: Vec<TaskSummary>,
    /// How many match.
    pub total: u64,
}

impl Tasks {
    /// The tasks `q` asks for, newest first.
    pub async fn find(&self, q: &TaskQuery) -> Result<TaskPage> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM tasks t JOIN hosts h ON h.id = t.host_id WHERE 1 = 1");
        filter(&mut count, q);
        let total: i64 = count.build_query_scalar().fetch_one(self.pool()).await?;
        if q.limit == 0 {
            return Ok(TaskPage { tasks: Vec::new(), total: total as u64 });
        }
        let mut list = QueryBuilder::<Sqlite>::new(
            "SELECT t.id, COALESCE(h.hostname, (SELECT mac FROM host_macs m WHERE m.host_id = h.id ORDER BY rowid LIMIT 1), 'host ' || h.id) AS host
             FROM tasks t JOIN hosts h ON h.id = t.host_id WHERE 1 = 1",
        );
        filter(&mut list, q);
        list.push(" ORDER BY t.id DESC LIMIT ").push_bind(i64::from(q.limit));
        let rows = list.build().fetch_all(self.pool()).await?;
        let mut tasks = Vec::with_capacity(rows.len());
        for r in &rows {
            tasks.push(TaskSummary { task: self.get(r.try_get("id")?).await?, host: r.try_get("host")? });
        }
        Ok(TaskPage { tasks, total: total as u64 })
    }
}

fn filter(b: &mut QueryBuilder<'_, Sqlite>, q: &TaskQuery) {
    if !q.states.is_empty() {
        b.push(" AND t.state IN (");
        let mut sep = b.separated(", ");
        for s in &q.states {
            sep.push_bind(s.as_str());
        }
        b.push(")");
    }
    if let Some(h) = q.host_id {
        b.push(" AND t.host_id = ").push_bind(h);
    }
    if let Some(i) = &q.image {
        b.push(" AND t.image = ").push_bind(i.clone());
    }
    if let Some(k) = q.kind {
        b.push(" AND t.kind = ").push_bind(k.as_str());
    }
    if let Some(e) = &q.entities {
        if e.is_empty() {
            b.push(" AND 0");
        } else {
            b.push(" AND h.entity_id IN (");
            let mut sep = b.separated(", ");
            for id in e {
                sep.push_bind(*id);
            }
            b.push(")");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TaskQuery;
    use crate::store::tests::{restore, tasks};
    use crate::task::{TaskKind, TaskState};

    #[tokio::test]
    async fn find_narrows_by_each_field_counts_exactly_and_lists_newest_first() {
        let (_d, s) = tasks().await;
        let ids: Vec<i64> = {
            let mut v = Vec::new();
            for h in 1..=3 {
                v.push(s.create(restore(h, 1)).await.unwrap().id);
            }
            v
        };
        s.cancel(ids[0]).await.unwrap();
        let found = |q: TaskQuery| {
            let s = s.clone();
            async move { s.find(&q).await.unwrap() }
        };
        let all = found(TaskQuery { limit: 10, ..Default::default() }).await;
        assert_eq!((all.total, all.tasks.iter().map(|t| t.task.id).collect::<Vec<_>>()), (3, vec![ids[2], ids[1], ids[0]]));
        assert_eq!(all.tasks[0].host, "h3");
        let pending = found(TaskQuery { states: vec![TaskState::Pending], limit: 10, ..Default::default() }).await;
        assert_eq!(pending.total, 2);
        let two = found(TaskQuery { states: vec![TaskState::Pending, TaskState::Cancelled], limit: 1, ..Default::default() }).await;
        assert_eq!((two.total, two.tasks.len()), (3, 1), "the count is of every match, not the page");
        assert_eq!(found(TaskQuery { host_id: Some(2), limit: 10, ..Default::default() }).await.tasks[0].task.id, ids[1]);
        assert_eq!(found(TaskQuery { image: Some("other".into()), limit: 10, ..Default::default() }).await.total, 0);
        assert_eq!(found(TaskQuery { kind: Some(TaskKind::Capture), limit: 10, ..Default::default() }).await.total, 0);
        let counted = found(TaskQuery { limit: 0, ..Default::default() }).await;
        assert_eq!((counted.total, counted.tasks.len()), (3, 0), "limit 0 only counts");
        assert_eq!(found(TaskQuery { entities: Some(vec![]), limit: 10, ..Default::default() }).await.total, 0, "no entity, nothing");
        assert_eq!(found(TaskQuery { entities: Some(vec![9999]), limit: 10, ..Default::default() }).await.total, 0);
    }
}
