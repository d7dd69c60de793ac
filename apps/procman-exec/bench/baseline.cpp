// The floor for procman-exec's start-up: read one JSON document from stdin,
// write one JSON line to stdout, nothing else. Linked like procman-exec
// (static libstdc++, Boost.JSON compiled in, -rdynamic).
#include <string>

#include <boost/json.hpp>
#include <unistd.h>

int main() {
  std::string text;
  char buf[65536];
  ssize_t n;
  while ((n = read(0, buf, sizeof(buf))) > 0)
    text.append(buf, static_cast<size_t>(n));
  boost::json::error_code ec;
  auto doc = boost::json::parse(text, ec);
  if (ec)
    return 2;
  auto& data = doc.as_object()["data"];
  auto line = boost::json::serialize(
                boost::json::object{{"event", "finished"}, {"output", data}})
              + "\n";
  return write(1, line.data(), line.size()) == static_cast<ssize_t>(line.size())
           ? 0
           : 1;
}
