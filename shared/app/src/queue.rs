//! The job and timer queues between ingress and worker, under one name for the application:
//! SQS FIFO and a delayed standard queue in AWS (`bridge-relay-aws`), an in-process channel and
//! sleeping tasks locally (`bridge-relay-local`), both behind the ports' `JobQueue` and
//! `TimerQueue`.

pub use bridge_relay_aws::{
    RedriveError, Redriven, SqsJobQueue, SqsRedelivery, SqsTimerQueue, redrive, sqs_client,
};
pub use bridge_relay_local::{
    DEDUP_WINDOW, DeadLetterLog, InProcessQueue, LOCAL_DELIVERIES, LOCAL_DELIVERY_BUDGET,
    LocalMessage, LocalTimer,
};
pub use bridge_relay_ports::queue::{JobQueue, MAX_TIMER_HOP, Redelivery, TimerQueue};
