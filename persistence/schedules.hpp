// The schedules table.
//
//   schedules  name -> version byte + binary schedule_record

#pragma once

#include <optional>
#include <string>
#include <vector>

#include "procman/messages/types.hpp"
#include "procman/persistence/transaction.hpp"

namespace procman::tables::schedules {

std::optional<schedule_record> load(const tx& t, const std::string& name);

void save(const tx& t, const schedule_record& x);

void remove(const tx& t, const std::string& name);

/// Every schedule, by name.
std::vector<schedule_record> all(const tx& t);

} // namespace procman::tables::schedules
