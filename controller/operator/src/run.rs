//! `orgops run`: connects to the cluster, checks the CRDs, serves the HTTP endpoints and
//! runs until SIGTERM or SIGINT.

use crate::{http, metrics::Metrics};
use anyhow::{Context, bail};
use kube::Client;
use std::net::SocketAddr;
use tokio::sync::watch;

/// Options of `orgops run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Address of the /metrics, /healthz and /readyz endpoints.
    #[arg(long, env = "ORGOPS_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
}

/// Runs the operator until it is told to stop.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let client = Client::try_default().await.context("connecting to the Kubernetes API (kubeconfig or in-cluster)")?;
    check_crds_installed(&client).await?;

    let metrics = Metrics::new();
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let http_stop = async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    };
    let server = tokio::spawn(http::serve(args.http_addr, metrics.clone(), http_stop));

    metrics.ready.set(1);
    tracing::info!("orgops is running");
    shutdown_signal().await;
    tracing::info!("shutting down");
    metrics.ready.set(0);
    let _ = stop_tx.send(true);
    server.await.context("HTTP server task")?.context("HTTP server")?;
    Ok(())
}

/// Fails with a message naming each missing CRD when the API server does not serve it.
async fn check_crds_installed(client: &Client) -> anyhow::Result<()> {
    let group_version = format!("{}/v1alpha1", orgops_api::GROUP);
    let served: Vec<String> = match client.list_api_group_resources(&group_version).await {
        Ok(list) => list.resources.into_iter().map(|r| r.name).collect(),
        Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(e) => return Err(e).context("asking the API server which orgops kinds it serves"),
    };
    let missing: Vec<String> = orgops_api::crds()
        .into_iter()
        .filter(|crd| !served.contains(&crd.spec.names.plural))
        .filter_map(|crd| crd.metadata.name)
        .collect();
    if !missing.is_empty() {
        bail!(
            "the orgops CRDs are not installed ({}): apply them with `kubectl apply --server-side -f crds/`",
            missing.join(", ")
        );
    }
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
