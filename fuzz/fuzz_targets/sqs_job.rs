//! What the worker reads from SQS: the Lambda SQS event, then each message body as a job.
//! Never panics; a body that reads as a job writes back to the same job.
#![no_main]

use aws_lambda_events::sqs::SqsEvent;
use bridge_relay::model::Job;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bodies: Vec<String> = match serde_json::from_slice::<SqsEvent>(data) {
        Ok(event) => event.records.into_iter().filter_map(|r| r.body).collect(),
        Err(_) => vec![String::from_utf8_lossy(data).into_owned()],
    };
    for body in bodies {
        if let Ok(job) = Job::from_json(&body) {
            assert_eq!(
                Job::from_json(&job.to_json()).expect("a job reads back"),
                job
            );
        }
    }
});
