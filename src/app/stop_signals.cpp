#include "wsc/app/stop_signals.hpp"

#include <csignal>
#include <initializer_list>

namespace wsc::app {

namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_stop_signal(int signal) {
  if (g_signal == 0) g_signal = signal;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int s : {SIGTERM, SIGUSR1, SIGINT}) sigaction(s, &action, nullptr);
}

bool stop_requested() { return g_signal != 0; }

int stop_signal() { return static_cast<int>(g_signal); }

}  // namespace wsc::app
