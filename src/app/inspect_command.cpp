#include "wsc/app/commands.hpp"
#include "wsc/app/resources.hpp"
#include "wsc/io/model_inspect.hpp"

#include <iostream>

namespace wsc::app {

int inspect_command(const std::string& path) {
  std::string report;
  const int problems = io::inspect_model_file(path, available_memory_bytes(), report);
  std::cout << report;
  if (problems > 0) {
    std::cerr << "wsc: error: " << path << ": " << problems << " problem(s) found (see above)\n";
    return 1;
  }
  return 0;
}

}  // namespace wsc::app
