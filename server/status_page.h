// The status page: "/" serves a self-contained HTML page (its JavaScript and
// charts inline: no CDN, servers often have no internet) that polls
// /status.json every second and looks users up through /api/user.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "server/status_server.h"

namespace streamrec::server {

// The page (server/status_page.html, embedded at build time).
std::string_view StatusPageHtml();
// What the page shows, from one snapshot: counters (rates are computed by the
// page from two polls), the list latency histogram, live quality, the blend,
// the experiment's tallies and the top trending items.
std::string StatusJson(const HealthSnapshot& s, int64_t now_ms);

}  // namespace streamrec::server
