//! A memory budget per query, inside the server's global one.
//!
//! DataFusion draws every operator's memory from the pool of the runtime a query is executed
//! with; all connections share one session, so without this one runaway query could take the
//! whole pool and make every other client's sort or join fail. Each statement therefore runs on
//! a copy of the shared session whose pool is a [`QueryPool`]: it forwards to the global pool
//! (so the total stays bounded) but refuses to let this query hold more than its budget. The
//! runaway fails with `ResourcesExhausted` (SQLSTATE 53200, see `sqlstate`); the others go on.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use datafusion_postgres::hooks::QueryHook;
use datafusion_postgres::DfSessionService;

/// One query's view of the global pool, capped at `budget` bytes.
#[derive(Debug)]
pub struct QueryPool {
    global: Arc<dyn MemoryPool>,
    budget: usize,
    used: AtomicUsize,
}

impl QueryPool {
    /// A pool of at most `budget` bytes drawn from `global`.
    pub fn new(global: Arc<dyn MemoryPool>, budget: usize) -> Self {
        Self {
            global,
            budget,
            used: AtomicUsize::new(0),
        }
    }
}

impl fmt::Display for QueryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueryPool(budget: {}, of {})", self.budget, self.global)
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "query_budget"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.global.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.global.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.global.grow(reservation, additional);
        self.used.fetch_add(additional, Ordering::Relaxed);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.global.shrink(reservation, shrink);
        self.used.fetch_sub(shrink, Ordering::Relaxed);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        // Claim first, so two operators of one query racing past the budget cannot both win.
        let before = self.used.fetch_add(additional, Ordering::Relaxed);
        if before.saturating_add(additional) > self.budget {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(DataFusionError::ResourcesExhausted(format!(
                "query memory budget exceeded: {} wants {additional} more bytes, the query \
                 holds {before} of its {} ([server] query_memory_limit); other queries are \
                 not affected",
                reservation.consumer().name(),
                self.budget
            )));
        }
        if let Err(error) = self.global.try_grow(reservation, additional) {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(error);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.budget)
    }
}

/// Builds, per statement, a session service whose runtime has its own [`QueryPool`].
pub struct QueryBudget {
    context: Arc<SessionContext>,
    hooks: Vec<Arc<dyn QueryHook>>,
    budget: usize,
}

impl QueryBudget {
    /// Budgets of `budget` bytes over `context`'s pool; `hooks` are the shared service's.
    pub fn new(
        context: Arc<SessionContext>,
        hooks: Vec<Arc<dyn QueryHook>>,
        budget: usize,
    ) -> Self {
        Self {
            context,
            hooks,
            budget,
        }
    }

    /// A session for one statement: the shared session's current state (catalogs, settings
    /// and snapshot are shared, not copied) with a fresh budget.
    pub fn context(&self) -> Arc<SessionContext> {
        let state = self.context.state();
        let pool = Arc::new(QueryPool::new(
            Arc::clone(&state.runtime_env().memory_pool),
            self.budget,
        ));
        let context = match RuntimeEnvBuilder::from_runtime_env(state.runtime_env())
            .with_memory_pool(pool)
            .build_arc()
        {
            Ok(runtime) => SessionContext::new_with_state(
                SessionStateBuilder::new_from_existing(state)
                    .with_runtime_env(runtime)
                    .build(),
            ),
            Err(error) => {
                tracing::error!(%error, "cannot build a query's runtime; running it without a budget");
                SessionContext::new_with_state(state)
            }
        };
        Arc::new(context)
    }

    /// A session service for one portal, over [`Self::context`].
    pub fn service(&self) -> Arc<DfSessionService> {
        Arc::new(DfSessionService::new_with_hooks(
            self.context(),
            self.hooks.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    #[test]
    fn a_query_is_capped_by_its_budget_and_the_global_pool() {
        let global: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1000));
        let first: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(Arc::clone(&global), 600));
        let second: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(Arc::clone(&global), 600));
        let runaway = MemoryConsumer::new("runaway").register(&first);
        runaway.try_grow(500).unwrap();
        let error = runaway.try_grow(200).unwrap_err();
        assert!(
            matches!(error.find_root(), DataFusionError::ResourcesExhausted(_)),
            "{error}"
        );
        assert_eq!(first.reserved(), 500);
        // The other query still gets memory: the runaway could not take it all.
        let small = MemoryConsumer::new("small").register(&second);
        small.try_grow(400).unwrap();
        // The global pool still bounds the sum.
        assert!(small.try_grow(150).is_err());
        drop(runaway);
        assert_eq!(first.reserved(), 0);
        assert_eq!(global.reserved(), 400);
    }
}
