// The HTTP API's tokens: SHA-256, the tokens table through the front door
// on a real store, and `procman token` as a user runs it.

#include <cctype>
#include <set>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/door/door.hpp"
#include "procman/http/token.hpp"
#include "procman/messages/errc.hpp"

#include "fixtures/temp_dir.hpp"

using namespace procman;
using procman::test::bin;
using procman::test::run_command;
using procman::test::temp_dir;

namespace {

door open_door(const temp_dir& dir) {
  auto d = door::open(dir.str() + "/store");
  BOOST_REQUIRE(d);
  return std::move(*d);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    auto nl = text.find('\n', at);
    if (nl == std::string::npos)
      nl = text.size();
    out.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_tokens)

BOOST_AUTO_TEST_CASE(sha256_matches_the_standard_vectors) {
  BOOST_TEST(
    http::sha256_hex("")
    == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(
    http::sha256_hex("abc")
    == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  BOOST_TEST(
    http::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
    == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

BOOST_AUTO_TEST_CASE(tokens_are_fresh_and_url_safe) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto t = http::make_token();
    BOOST_REQUIRE(t);
    BOOST_TEST(t->rfind("pm_", 0) == 0u);
    BOOST_TEST(t->size() == 3u + 43u); // 32 bytes, base64 without padding
    for (auto c : t->substr(3))
      BOOST_TEST(
        (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'));
    BOOST_TEST(seen.insert(*t).second);
  }
}

BOOST_AUTO_TEST_CASE(a_token_is_checked_listed_and_revoked_by_its_hash) {
  temp_dir dir;
  auto d = open_door(dir);
  auto token = *http::make_token();
  auto hash = http::token_hash(token);
  auto rec = d.call(token_add_request{"ci", "operate", hash});
  BOOST_REQUIRE(rec);
  BOOST_TEST(rec->id.size() == 16u);
  BOOST_TEST(rec->scope == "operate");
  BOOST_TEST(rec->hash.empty()); // never shown
  BOOST_TEST(rec->created_at > 0u);
  // Asked again (a lost answer): the same record, not a second token.
  auto again = d.call(token_add_request{"ci", "operate", hash});
  BOOST_REQUIRE(again);
  BOOST_TEST(again->id == rec->id);
  auto checked = d.call(token_check_request{hash});
  BOOST_REQUIRE(checked);
  BOOST_TEST(checked->id == rec->id);
  BOOST_TEST(checked->scope == "operate");
  auto other = d.call(token_check_request{http::token_hash(token + "x")});
  BOOST_REQUIRE(!other);
  BOOST_TEST(is(other.error(), errc::unauthorized));
  auto all = d.call(tokens_request{});
  BOOST_REQUIRE(all);
  BOOST_REQUIRE(all->size() == 1u);
  BOOST_TEST((*all)[0].hash.empty());
  auto gone = d.call(token_revoke_request{"ci"});
  BOOST_REQUIRE(gone);
  BOOST_TEST(gone->id == rec->id);
  auto after = d.call(token_check_request{hash});
  BOOST_REQUIRE(!after);
  BOOST_TEST(is(after.error(), errc::unauthorized));
  auto twice = d.call(token_revoke_request{rec->id});
  BOOST_REQUIRE(!twice);
  BOOST_TEST(is(twice.error(), errc::unknown_token));
  BOOST_TEST(d.call(tokens_request{})->empty());
}

BOOST_AUTO_TEST_CASE(bad_token_requests_are_refused_and_store_nothing) {
  temp_dir dir;
  auto d = open_door(dir);
  auto hash = http::token_hash("pm_x");
  auto bad_scope = d.call(token_add_request{"a", "write", hash});
  BOOST_REQUIRE(!bad_scope);
  BOOST_TEST(is(bad_scope.error(), errc::invalid_argument));
  BOOST_TEST(bad_scope.error().context.find("write") != std::string::npos);
  auto bad_hash = d.call(token_add_request{"a", "read", "pm_x"});
  BOOST_REQUIRE(!bad_hash);
  BOOST_TEST(is(bad_hash.error(), errc::invalid_argument));
  auto bad_name = d.call(token_add_request{"a b", "read", hash});
  BOOST_REQUIRE(!bad_name);
  BOOST_TEST(is(bad_name.error(), errc::invalid_argument));
  auto id_like = d.call(token_add_request{"0123456789abcdef", "read", hash});
  BOOST_REQUIRE(!id_like);
  BOOST_TEST(d.call(tokens_request{})->empty());
  BOOST_REQUIRE(d.call(token_add_request{"a", "read", hash}));
  auto same_name
    = d.call(token_add_request{"a", "read", http::token_hash("pm_y")});
  BOOST_REQUIRE(!same_name);
  BOOST_TEST(same_name.error().context.find("named \"a\"")
             != std::string::npos);
  auto same_hash = d.call(token_add_request{"b", "admin", hash});
  BOOST_REQUIRE(!same_hash);
  BOOST_TEST(d.call(tokens_request{})->size() == 1u);
  BOOST_TEST(is(d.call(token_check_request{"zz"}).error(), errc::unauthorized));
}

BOOST_AUTO_TEST_CASE(the_cli_prints_a_token_once_and_stores_its_hash) {
  temp_dir dir;
  auto store = dir.str() + "/store";
  auto made = run_command({bin("procman"), "--store", store, "token", "create",
                           "--scope", "read", "--name", "dashboard"});
  BOOST_TEST_REQUIRE(made.exit_code == 0, made.err);
  auto out = lines(made.out);
  BOOST_REQUIRE(out.size() == 1u);
  auto token = out[0];
  BOOST_TEST(token.rfind("pm_", 0) == 0u);
  auto listed
    = run_command({bin("procman"), "--store", store, "token", "list"});
  BOOST_TEST_REQUIRE(listed.exit_code == 0, listed.err);
  BOOST_TEST(listed.out.find(token) == std::string::npos);
  BOOST_TEST(listed.out.find(http::token_hash(token)) == std::string::npos);
  auto row = boost::json::parse(lines(listed.out).at(0)).as_object();
  BOOST_TEST(row.at("name").as_string() == "dashboard");
  BOOST_TEST(row.at("scope").as_string() == "read");
  BOOST_TEST(row.at("id").as_string().size() == 16u);
  BOOST_TEST(row.at("created").as_string().size() == 14u);
  BOOST_TEST(row.size() == 4u);
  {
    auto d = open_door(dir);
    auto checked = d.call(token_check_request{http::token_hash(token)});
    BOOST_REQUIRE(checked);
    BOOST_TEST(checked->name == "dashboard");
  }
  auto bad = run_command(
    {bin("procman"), "--store", store, "token", "create", "--scope", "root"});
  BOOST_TEST(bad.exit_code == 2);
  BOOST_TEST(bad.err.find("--scope") != std::string::npos);
  auto unknown
    = run_command({bin("procman"), "--store", store, "token", "revoke", "x"});
  BOOST_TEST(unknown.exit_code == 1);
  BOOST_TEST(unknown.err.find("no token") != std::string::npos);
  auto revoked = run_command(
    {bin("procman"), "--store", store, "token", "revoke", "dashboard"});
  BOOST_TEST_REQUIRE(revoked.exit_code == 0, revoked.err);
  auto d = open_door(dir);
  BOOST_TEST(is(d.call(token_check_request{http::token_hash(token)}).error(),
                errc::unauthorized));
}

BOOST_AUTO_TEST_SUITE_END()
