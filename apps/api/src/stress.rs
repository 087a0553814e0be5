//! `--stress-cpu` and `--stress-memory`: load for autoscaling demos (HPA on CPU or memory).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One duty cycle of a CPU burner, in milliseconds.
const CYCLE: Duration = Duration::from_millis(10);

/// Running stress; stops when dropped.
#[derive(Debug, Default)]
pub struct Stress {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Memory held on purpose; filled, so it is resident, not just reserved.
    #[allow(dead_code, reason = "held, never read: occupying memory is the point")]
    ballast: Vec<u8>,
}

impl Stress {
    /// Start burning `cpu` cores (a fraction burns part of one) and holding `memory_mib` MiB.
    pub fn start(cpu: f64, memory_mib: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut left = cpu;
        while left > 0.0 {
            let duty = left.min(1.0);
            left -= duty;
            let stop = Arc::clone(&stop);
            threads.push(std::thread::spawn(move || burn(duty, &stop)));
        }
        let ballast = if memory_mib == 0 {
            Vec::new()
        } else {
            vec![1_u8; usize::try_from(memory_mib * 1024 * 1024).unwrap_or(usize::MAX)]
        };
        if cpu > 0.0 || memory_mib > 0 {
            tracing::warn!(cpu_cores = cpu, memory_mib, "stress test running");
        }
        Self {
            stop,
            threads,
            ballast,
        }
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "a dedicated OS thread, not an async worker"
)]
fn burn(duty: f64, stop: &AtomicBool) {
    let busy = CYCLE.mul_f64(duty);
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        while start.elapsed() < busy {
            std::hint::spin_loop();
        }
        std::thread::sleep(CYCLE.saturating_sub(busy));
    }
}

impl Drop for Stress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stress_holds_memory_and_stops_its_threads_on_drop() {
        let stress = Stress::start(0.5, 1);
        assert_eq!(stress.threads.len(), 1);
        assert_eq!(stress.ballast.len(), 1024 * 1024);
        drop(stress);
        let none = Stress::start(0.0, 0);
        assert!(none.threads.is_empty());
    }
}
