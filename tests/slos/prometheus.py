"""A real Prometheus over a TSDB backfilled with `promtool tsdb create-blocks-from openmetrics`."""

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_openmetrics(path: Path, families: dict[str, dict[str, list[tuple[int, float]]]]) -> None:
    """families: family name → {label text → [(timestamp, value)]}; counters, samples named <family>_total."""
    with path.open("w") as out:
        for family, series in families.items():
            out.write(f"# TYPE {family} counter\n")
            for labels, samples in series.items():
                lines = [f"{family}_total{{{labels}}} {value:.6f} {ts}\n" for ts, value in samples]
                out.writelines(lines)
        out.write("# EOF\n")


def backfill(openmetrics: Path, data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(openmetrics), str(data_dir)],
        check=True,
        capture_output=True,
        timeout=600,
    )


@dataclass
class PrometheusServer:
    data_dir: Path
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        config = self.workdir / "prometheus.yml"
        config.write_text("global:\n  evaluation_interval: 1m\nscrape_configs: []\n")
        log = (self.workdir / "prometheus.log").open("ab")
        self.process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir}",
                "--storage.tsdb.retention.time=90d",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: see {self.workdir / 'prometheus.log'}")
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("prometheus did not become ready")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def query(self, promql: str, at: float) -> float:
        body = requests.get(
            f"{self.url}/api/v1/query", params={"query": promql, "time": f"{at:.3f}"}, timeout=10
        ).json()
        assert body["status"] == "success", body
        return float(body["data"]["result"][0]["value"][1])
