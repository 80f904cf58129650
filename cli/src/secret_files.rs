//! The secret documents the commands read from files: one with both parts, or the ingress's and
//! the worker's apart.

use std::sync::Arc;
use std::time::Duration;

use bridge_relay::secrets::{FileSecretSource, SecretCache, SecretRole};

use crate::args::Args;

pub(crate) fn secret_cache(args: &Args, ttl: Duration) -> Result<Arc<SecretCache>, String> {
    let path = args
        .secrets_file
        .as_ref()
        .ok_or("--secrets-file is required (the secret document, see docs/deploy.md, step 3)")?;
    Ok(file_cache(path, SecretRole::Both, ttl))
}

pub(crate) fn file_cache(path: &str, role: SecretRole, ttl: Duration) -> Arc<SecretCache> {
    Arc::new(SecretCache::new(Arc::new(FileSecretSource::new(path)), ttl).with_role(role))
}

/// The ingress's and the worker's secrets: one file with both parts (the same cache twice), or
/// one file each.
pub(crate) fn secret_files(
    args: &Args,
    ttl: Duration,
) -> Result<(Arc<SecretCache>, Arc<SecretCache>), String> {
    match (
        &args.secrets_file,
        &args.ingress_secrets_file,
        &args.worker_secrets_file,
    ) {
        (Some(_), None, None) => {
            let both = secret_cache(args, ttl)?;
            Ok((both.clone(), both))
        }
        (None, Some(ingress), Some(worker)) => Ok((
            file_cache(ingress, SecretRole::Ingress, ttl),
            file_cache(worker, SecretRole::Worker, ttl),
        )),
        _ => Err(
            "give --secrets-file (both parts in one file), or --ingress-secrets-file and --worker-secrets-file"
                .into(),
        ),
    }
}

/// The secret `sign` takes the webhook secrets from: the one file, or the ingress's.
pub(crate) fn signing_cache(args: &Args) -> Result<Arc<SecretCache>, String> {
    match (&args.secrets_file, &args.ingress_secrets_file) {
        (None, Some(ingress)) => Ok(file_cache(ingress, SecretRole::Ingress, Duration::ZERO)),
        _ => secret_cache(args, Duration::ZERO),
    }
}
