#pragma once
// Stopping a long run cleanly: SIGTERM (SLURM's time limit, preemption,
// scontrol requeue), SIGUSR1 (sbatch --signal warnings) and SIGINT only set
// a flag; the engine polls it between rounds of work, saves its state and
// stops on every rank (engine::Interrupted). A run stopped this way exits
// with kExitResumable, which the job scripts turn into a requeue.
namespace wsc::app {

/// Exit status of a run that saved its state and can be resumed (EX_TEMPFAIL).
constexpr int kExitResumable = 75;

/// Installs the handlers (idempotent).
void install_stop_handlers();

/// True once one of the signals arrived.
bool stop_requested();

/// The number of the first signal received (0: none).
int stop_signal();

}  // namespace wsc::app
