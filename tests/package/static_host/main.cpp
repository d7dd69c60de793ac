// Prints the executor the engine linked into this program would run.

#include <iostream>
#include <string>

std::string executor_path();

int main() {
  std::cout << executor_path() << "\n";
}
