// The procman type-ID block in a real actor system: every message type
// travels to a local actor and back, and serializes as a caf::message
// (what the middleman does between nodes).

#include <chrono>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/skip.hpp>

#include "procman/messages/fwd.hpp"
#include "procman/messages/requests.hpp"
#include "procman/messages/types.hpp"

#include "samples.hpp"

using namespace procman;
using namespace procman::test;

namespace {

struct system_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  caf::actor echo;

  static caf::actor_system_config& registered(caf::actor_system_config& cfg) {
    cfg.add_message_types<caf::id_block::procman>();
    return cfg;
  }

  system_fixture() : sys(registered(cfg)), self(sys) {
    // Replies with whatever it receives.
    echo = sys.spawn([](caf::event_based_actor* ptr) -> caf::behavior {
      ptr->set_default_handler(caf::reflect);
      return {[](caf::get_atom) {}};
    });
  }

  ~system_fixture() { self->send_exit(echo, caf::exit_reason::user_shutdown); }

  // Sends `x` to the echo actor and checks that the reply is `x`.
  template <class T>
  void check_echo(const T& x) {
    bool replied = false;
    self->request(echo, std::chrono::seconds(10), x)
      .receive(
        [&](const T& y) {
          replied = true;
          BOOST_TEST((same(x, y)));
        },
        [&](const caf::error& err) {
          BOOST_FAIL("echo failed: " << sys.render(err));
        });
    BOOST_TEST(replied);
  }

  // Serializes a caf::message holding `x` with the system as context and
  // reads it back; this needs `x`'s type registered by name.
  template <class T>
  void check_message(const T& x) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    auto msg = caf::make_message(x);
    auto err = sink(msg);
    BOOST_TEST_REQUIRE(!err, "serializing failed: " << sys.render(err));
    caf::binary_deserializer src{sys, buf};
    caf::message out;
    err = src(out);
    BOOST_TEST_REQUIRE(!err, "deserializing failed: " << sys.render(err));
    BOOST_TEST_REQUIRE(out.match_elements<T>());
    BOOST_TEST((same(x, out.get_as<T>(0))));
  }

  template <class T>
  void check(const T& x) {
    check_echo(x);
    check_message(x);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(message_registration, system_fixture)

BOOST_AUTO_TEST_CASE(enums_travel) {
  check(process_status::interrupted);
  check(step_status::failed);
  check(error_kind::runner_lost);
  check(transition_kind::purge);
}

BOOST_AUTO_TEST_CASE(structs_travel) {
  check(sample_step());
  check(sample_spec());
  check(sample_progress());
  check(sample_error());
  check(sample_record());
  check(sample_transition());
  check(sample_log_entry());
  check(sample_event());
  check(sample_query());
}

BOOST_AUTO_TEST_CASE(vectors_travel) {
  check(sample_records());
  check(sample_transitions());
}

BOOST_AUTO_TEST_CASE(atoms_and_payload_travel_together) {
  bool replied = false;
  auto rec = sample_record();
  self->request(echo, std::chrono::seconds(10), atom::info_v, rec.pid, rec)
    .receive(
      [&](atom::info, const std::string& pid, const process_record& y) {
        replied = true;
        BOOST_TEST(pid == rec.pid);
        BOOST_TEST((same(y, rec)));
      },
      [&](const caf::error& err) {
        BOOST_FAIL("echo failed: " << sys.render(err));
      });
  BOOST_TEST(replied);
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto msg = caf::make_message(atom::start_v, sample_spec());
  BOOST_TEST_REQUIRE(!sink(msg));
  caf::binary_deserializer src{sys, buf};
  caf::message out;
  BOOST_TEST_REQUIRE(!src(out));
  BOOST_TEST_REQUIRE((out.match_elements<atom::start, process_spec>()));
  BOOST_TEST((same(out.get_as<process_spec>(1), sample_spec())));
}

BOOST_AUTO_TEST_CASE(types_are_registered_under_their_names) {
  auto& types = sys.types();
  for (auto name :
       {"procman::process_record", "procman::process_spec",
        "procman::transition", "procman::list_query", "procman::process_status",
        "std::vector<procman::process_record>"})
    BOOST_TEST(static_cast<bool>(types.make_value(name)), name);
}

BOOST_AUTO_TEST_SUITE_END()

// Without the block, a message with a procman type cannot leave the node;
// this shows that the checks above depend on the registration.
BOOST_AUTO_TEST_SUITE(message_registration_needed)

BOOST_AUTO_TEST_CASE(unregistered_types_do_not_serialize) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto msg = caf::make_message(sample_query());
  // CAF prints "[ERROR]: cannot serialize message because a type was not
  // added to the types list" and writes an empty message, without an error.
  BOOST_TEST_MESSAGE("expect a CAF error about the types list");
  auto err = sink(msg);
  caf::binary_deserializer src{sys, buf};
  caf::message out;
  if (!err)
    err = src(out);
  BOOST_TEST((err || !out.match_elements<list_query>()));
}

BOOST_AUTO_TEST_SUITE_END()
