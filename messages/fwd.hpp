// Forward declarations, atoms and procman's one type-ID block.
//
// Every app and test registers it, on every node:
// `cfg.add_message_types<caf::id_block::procman>()` (or
// `CAF_MAIN(caf::id_block::procman, ...)`).

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/type_id.hpp>

// The front door's requests, each a type of the block (the list there).
#include "procman/messages/requests.hpp"

namespace procman {

enum class process_status : uint8_t;
enum class step_status : uint8_t;
enum class error_kind : uint8_t;
enum class transition_kind : uint8_t;
enum class errc : uint8_t;
struct step_spec;
struct process_spec;
struct progress_info;
struct error_info;
struct process_record;
struct transition;
struct log_entry;
struct process_event;
struct list_query;
struct output_chunk;
struct output_log;
struct node_hello;
struct lease_grant;
struct schedule_record;

} // namespace procman

#define PROCMAN_ADD_TYPE(type) CAF_ADD_TYPE_ID(procman, type)
#define PROCMAN_ADD_ATOM(name, text)                                           \
  CAF_ADD_ATOM(procman, procman::atom, name, text)

CAF_BEGIN_TYPE_ID_BLOCK(procman, caf::first_custom_type_id)

PROCMAN_ADD_TYPE((procman::process_status))
PROCMAN_ADD_TYPE((procman::step_status))
PROCMAN_ADD_TYPE((procman::error_kind))
PROCMAN_ADD_TYPE((procman::transition_kind))
PROCMAN_ADD_TYPE((procman::step_spec))
PROCMAN_ADD_TYPE((procman::process_spec))
PROCMAN_ADD_TYPE((procman::progress_info))
PROCMAN_ADD_TYPE((procman::error_info))
PROCMAN_ADD_TYPE((procman::process_record))
PROCMAN_ADD_TYPE((procman::transition))
PROCMAN_ADD_TYPE((procman::log_entry))
PROCMAN_ADD_TYPE((procman::process_event))
PROCMAN_ADD_TYPE((procman::list_query))
PROCMAN_ADD_TYPE((std::vector<procman::process_record>) )
PROCMAN_ADD_TYPE((std::vector<procman::transition>) )
PROCMAN_ADD_TYPE((procman::output_chunk))
PROCMAN_ADD_TYPE((procman::output_log))

PROCMAN_ADD_ATOM(start, "start")
PROCMAN_ADD_ATOM(info, "info")
PROCMAN_ADD_ATOM(proceed, "proceed")
PROCMAN_ADD_ATOM(cancel, "cancel")
PROCMAN_ADD_ATOM(list, "list")
PROCMAN_ADD_ATOM(subscribe, "subscribe")
PROCMAN_ADD_ATOM(unsub, "unsub")
PROCMAN_ADD_ATOM(apply, "apply")
PROCMAN_ADD_ATOM(claim, "claim")
PROCMAN_ADD_ATOM(wakeup, "wakeup")
PROCMAN_ADD_ATOM(exec, "exec")
PROCMAN_ADD_ATOM(kill, "kill")
PROCMAN_ADD_ATOM(drain, "drain")
PROCMAN_ADD_ATOM(recover, "recover")
PROCMAN_ADD_ATOM(event, "event")
PROCMAN_ADD_ATOM(stats, "stats")
PROCMAN_ADD_ATOM(expire, "expire")
PROCMAN_ADD_ATOM(report, "report")
PROCMAN_ADD_ATOM(exited, "exited")
PROCMAN_ADD_ATOM(flush, "flush")
PROCMAN_ADD_ATOM(check, "check")
PROCMAN_ADD_ATOM(output, "output")
PROCMAN_ADD_ATOM(fire, "fire")

PROCMAN_ADD_TYPE((procman::node_hello))
PROCMAN_ADD_TYPE((procman::lease_grant))
PROCMAN_ADD_ATOM(join, "join")
PROCMAN_ADD_ATOM(heartbeat, "heartbeat")
PROCMAN_ADD_ATOM(leave, "leave")

PROCMAN_ADD_TYPE((procman::schedule_record))
PROCMAN_ADD_TYPE((std::vector<procman::schedule_record>) )
PROCMAN_ADD_ATOM(schedule, "schedule")

// The front door's answers, and its requests (messages/requests.hpp:
// PROCMAN_DOOR_REQUESTS; new ones at the end, as every type here).
PROCMAN_ADD_TYPE((procman::purge_result))
PROCMAN_ADD_TYPE((procman::setting_value))
PROCMAN_ADD_TYPE((std::vector<procman::setting_value>) )
PROCMAN_ADD_TYPE((procman::log_export))
#define PROCMAN_ADD_REQUEST(R) PROCMAN_ADD_TYPE((procman::R))
PROCMAN_DOOR_REQUESTS_UNTIL_TOKENS(PROCMAN_ADD_REQUEST)

// The API tokens' answers (after the requests, whose ids stay).
PROCMAN_ADD_TYPE((procman::token_record))
PROCMAN_ADD_TYPE((std::vector<procman::token_record>) )

// The requests since, and their answers (new answers after the requests).
PROCMAN_ADD_TYPE((procman::store_metrics))
PROCMAN_ADD_TYPE((procman::queue_stats))
PROCMAN_ADD_TYPE((procman::nodes_info))
PROCMAN_DOOR_REQUESTS_SINCE_TOKENS(PROCMAN_ADD_REQUEST)
#undef PROCMAN_ADD_REQUEST

CAF_END_TYPE_ID_BLOCK(procman)
