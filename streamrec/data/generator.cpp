#include "streamrec/data/generator.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/format.h>

namespace streamrec::data {
namespace {

constexpr const char* kDevices[] = {"mobile", "desktop", "tv"};
constexpr const char* kCities[] = {"berlin", "paris", "madrid", "rome", "lisbon", "vienna"};
constexpr const char* kWords[] = {"action", "drama", "comedy", "sport",   "music",  "travel",
                                  "cook",   "tech",  "kids",   "news",    "nature", "space",
                                  "crime",  "love",  "war",    "horror",  "art",    "game",
                                  "health", "money", "auto",   "fashion", "pets",   "garden"};
constexpr const char* kAdjectives[] = {"great", "new",  "classic", "best", "little",
                                       "last",  "dark", "bright",  "lost", "secret"};

struct GenItem {
  uint32_t category;
  int64_t release;
  double weight;
};

struct GenUser {
  std::vector<uint32_t> interests;  // favourite categories, most liked first
  int64_t join;
  double activity;
  uint32_t device;
  uint32_t city;
  int64_t last_item = -1;
};

// Categories a context favours: evenings shift interest towards the upper half of the
// categories, the tv device towards categories divisible by 3.
bool context_favours(uint32_t cat, uint32_t n_cat, int hour, uint32_t device) {
  const bool evening = hour >= 19;
  if (evening && cat >= n_cat / 2) return true;
  return device == 2 && cat % 3 == 0;
}

}  // namespace

Params GeneratorOptions::params() {
  GeneratorOptions d;
  return Params(
      "generate",
      {ParamSpec::integer("seed", static_cast<int64_t>(d.seed), 0, INT64_MAX, "random seed"),
       ParamSpec::integer("users", d.users, 1, 100'000'000, "number of users"),
       ParamSpec::integer("items", d.items, 1, 100'000'000, "number of items"),
       ParamSpec::integer("categories", d.categories, 1, 10000, "number of item categories"),
       ParamSpec::integer("events", static_cast<int64_t>(d.events), 1, 10'000'000'000,
                          "number of events"),
       ParamSpec::integer("start_time", d.start_time, 0, INT64_MAX / 2, "first event, Unix s"),
       ParamSpec::integer("days", d.days, 1, 36500, "time span in days"),
       ParamSpec::real("zipf", d.zipf, 0, 5, "item popularity exponent"),
       ParamSpec::real("new_item_share", d.new_item_share, 0, 1, "items released over time"),
       ParamSpec::real("new_user_share", d.new_user_share, 0, 1, "users joining over time"),
       ParamSpec::real("drift", d.drift, 0, 1, "per-event chance of an interest change"),
       ParamSpec::real("sequential", d.sequential, 0, 1, "chance to follow the item chain"),
       ParamSpec::real("context_effect", d.context_effect, 0, 1,
                       "how much hour/device shift interests")});
}

GeneratorOptions GeneratorOptions::from_params(const Params& p) {
  GeneratorOptions o;
  o.seed = static_cast<uint64_t>(p.integer("seed"));
  o.users = static_cast<uint32_t>(p.integer("users"));
  o.items = static_cast<uint32_t>(p.integer("items"));
  o.categories = static_cast<uint32_t>(p.integer("categories"));
  o.events = static_cast<uint64_t>(p.integer("events"));
  o.start_time = p.integer("start_time");
  o.days = static_cast<uint32_t>(p.integer("days"));
  o.zipf = p.real("zipf");
  o.new_item_share = p.real("new_item_share");
  o.new_user_share = p.real("new_user_share");
  o.drift = p.real("drift");
  o.sequential = p.real("sequential");
  o.context_effect = p.real("context_effect");
  return o;
}

namespace {

// One generation run: the random stream and what the steps share. The steps draw from
// `rng` in a fixed order (items, users, times, events), so a seed gives one data set.
struct Generation {
  const GeneratorOptions& o;
  std::mt19937_64 rng;
  std::uniform_real_distribution<double> uni{0.0, 1.0};
  int64_t span;
  uint32_t n_cat;
  Dataset ds;
  std::vector<GenItem> items;
  std::vector<std::vector<uint32_t>> by_cat;  // each category's chain, in id order
  std::vector<std::vector<double>> cum;       // cumulative popularity along each chain
  std::vector<GenUser> users;
  std::vector<uint32_t> by_release;  // items by release time

  explicit Generation(const GeneratorOptions& options)
      : o(options),
        rng(options.seed),
        span(static_cast<int64_t>(options.days) * 86400),
        n_cat(std::max<uint32_t>(1, options.categories)) {
    ds.name = fmt::format("synthetic-seed{}", o.seed);
  }

  // Items: category, release time, popularity; chains link items of a category in id order.
  void make_items() {
    items.resize(o.items);
    by_cat.resize(n_cat);
    for (uint32_t i = 0; i < o.items; ++i) {
      const uint32_t cat = static_cast<uint32_t>(rng() % n_cat);
      const int64_t release =
          uni(rng) < o.new_item_share ? o.start_time + static_cast<int64_t>(uni(rng) * span) : 0;
      items[i] = {cat, release, 0.0};
      by_cat[cat].push_back(i);
    }
    // Popularity ranks are drawn independently of the chain (id) order.
    cum.resize(n_cat);
    for (uint32_t c = 0; c < n_cat; ++c) {
      auto ranked = by_cat[c];
      std::shuffle(ranked.begin(), ranked.end(), rng);
      for (size_t r = 0; r < ranked.size(); ++r)
        items[ranked[r]].weight = 1.0 / std::pow(r + 1.0, o.zipf);
      double acc = 0;
      for (uint32_t i : by_cat[c]) cum[c].push_back(acc += items[i].weight);
    }
    for (uint32_t i = 0; i < o.items; ++i) {
      auto& a = ds.item_attrs[ds.add_item(fmt::format("i{}", i))];
      const uint32_t cat = items[i].category;
      const char* word = kWords[cat % std::size(kWords)];
      a.title = fmt::format("{} {} {}", kAdjectives[rng() % std::size(kAdjectives)], word, i);
      a.categories.push_back(fmt::format("cat{}", cat));
      a.tags.push_back(word);
      a.tags.push_back(kWords[(cat + 1 + rng() % 3) % std::size(kWords)]);
      a.numeric["price"] = std::round(std::exp(2.0 + uni(rng) * 3.0)) / 1.0;
      if (items[i].release > 0) a.numeric["release"] = static_cast<double>(items[i].release);
    }
    by_release.resize(o.items);
    for (uint32_t i = 0; i < o.items; ++i) by_release[i] = i;
    std::stable_sort(by_release.begin(), by_release.end(),
                     [&](uint32_t x, uint32_t y) { return items[x].release < items[y].release; });
  }

  // Users: a few favourite categories, activity (log-normal), device, city, join time.
  void make_users() {
    users.resize(o.users);
    std::lognormal_distribution<double> activity(0.0, 1.0);
    for (uint32_t u = 0; u < o.users; ++u) {
      auto& g = users[u];
      const uint32_t n_fav = 1 + static_cast<uint32_t>(rng() % 3);
      while (g.interests.size() < std::min(n_fav, n_cat)) {
        const uint32_t c = static_cast<uint32_t>(rng() % n_cat);
        if (std::find(g.interests.begin(), g.interests.end(), c) == g.interests.end())
          g.interests.push_back(c);
      }
      g.join = uni(rng) < o.new_user_share ? o.start_time + static_cast<int64_t>(uni(rng) * span)
                                           : o.start_time;
      g.activity = activity(rng);
      g.device = static_cast<uint32_t>(rng() % std::size(kDevices));
      g.city = static_cast<uint32_t>(rng() % std::size(kCities));
      auto& a = ds.user_attrs[ds.add_user(fmt::format("u{}", u))];
      a.fields["city"] = kCities[g.city];
      a.numeric["age"] = 18 + static_cast<double>(rng() % 50);
    }
  }

  // Event times: sorted uniform draws with a daily rhythm (more in the evening).
  std::vector<int64_t> event_times() {
    std::vector<int64_t> times(o.events);
    for (auto& t : times) {
      while (true) {
        const int64_t cand = o.start_time + static_cast<int64_t>(uni(rng) * span);
        const int hour = static_cast<int>((cand / 3600) % 24);
        if (uni(rng) < 0.4 + 0.6 * (hour >= 17 ? 1.0 : hour >= 8 ? 0.6 : 0.2)) {
          t = cand;
          break;
        }
      }
    }
    std::sort(times.begin(), times.end());
    return times;
  }

  // Any item already released at `ts`, uniformly (the fallback when sampling hits only
  // unreleased items).
  uint32_t released_item(int64_t ts) {
    size_t n = 0;
    while (n < by_release.size() && items[by_release[n]].release <= ts) ++n;
    return by_release[rng() % std::max<size_t>(n, 1)];
  }

  // Category: a favourite (first ones likelier), or a context-favoured one, or noise.
  uint32_t pick_category(const GenUser& g, int hour, uint32_t device) {
    uint32_t cat = g.interests[std::min<size_t>(
        static_cast<size_t>(-std::log(uni(rng) + 1e-12) * 0.8), g.interests.size() - 1)];
    if (uni(rng) < o.context_effect * 0.5) {
      for (int tries = 0; tries < 8; ++tries) {
        const uint32_t c = static_cast<uint32_t>(rng() % n_cat);
        if (context_favours(c, n_cat, hour, device)) {
          cat = c;
          break;
        }
      }
    } else if (uni(rng) < 0.1) {
      cat = static_cast<uint32_t>(rng() % n_cat);  // exploration noise
    }
    if (by_cat[cat].empty()) cat = items[rng() % o.items].category;
    return cat;
  }

  uint32_t pick_item(GenUser& g, int64_t ts, int hour, uint32_t device) {
    if (uni(rng) < o.drift)  // interest drift: a favourite is replaced
      g.interests[rng() % g.interests.size()] = static_cast<uint32_t>(rng() % n_cat);
    if (g.last_item >= 0 && uni(rng) < o.sequential) {
      // Planted sequence: the next released item in the last item's category chain.
      const auto& chain = by_cat[items[g.last_item].category];
      auto it = std::upper_bound(chain.begin(), chain.end(), static_cast<uint32_t>(g.last_item));
      while (it != chain.end() && items[*it].release > ts) ++it;
      return it != chain.end() ? *it : released_item(ts);
    }
    const uint32_t cat = pick_category(g, hour, device);
    const auto& list = by_cat[cat];
    const auto& c = cum[cat];
    uint32_t item = list[0];
    for (int tries = 0; tries < 20; ++tries) {
      const size_t k = std::lower_bound(c.begin(), c.end(), uni(rng) * c.back()) - c.begin();
      item = list[std::min(k, list.size() - 1)];
      if (items[item].release <= ts) break;
    }
    return items[item].release > ts ? released_item(ts) : item;
  }

  void add_event(uint32_t u, uint32_t item, int64_t ts, int hour, uint32_t device) {
    Interaction e;
    e.user = u;
    e.item = item;
    e.timestamp = ts;
    const double r = uni(rng);
    e.type = r < 0.6    ? EventType::kView
             : r < 0.85 ? EventType::kClick
             : r < 0.95 ? EventType::kCart
                        : EventType::kPurchase;
    e.value = 1.0f;
    Context ctx = {{"device", kDevices[device]},
                   {"hour", std::to_string(hour)},
                   {"location", kCities[users[u].city]}};
    e.context = ds.add_context(std::move(ctx));
    ds.events.push_back(e);
  }

  // Users become active at their join time; each event picks one by activity among the
  // active ones, then an item.
  void make_events() {
    const auto times = event_times();
    std::vector<uint32_t> by_join(o.users);
    for (uint32_t u = 0; u < o.users; ++u) by_join[u] = u;
    std::sort(by_join.begin(), by_join.end(),
              [&](uint32_t a, uint32_t b) { return users[a].join < users[b].join; });
    std::vector<double> active_cum;
    size_t n_active = 0;
    ds.events.reserve(o.events);
    for (uint64_t n = 0; n < o.events; ++n) {
      const int64_t ts = times[n];
      while (n_active < by_join.size() && users[by_join[n_active]].join <= ts) {
        active_cum.push_back((active_cum.empty() ? 0 : active_cum.back()) +
                             users[by_join[n_active]].activity);
        ++n_active;
      }
      if (n_active == 0) {
        active_cum.push_back(users[by_join[0]].activity);
        n_active = 1;
      }
      const double pick = uni(rng) * active_cum.back();
      const uint32_t u = by_join[std::lower_bound(active_cum.begin(), active_cum.end(), pick) -
                                 active_cum.begin()];
      auto& g = users[u];
      const int hour = static_cast<int>((ts / 3600) % 24);
      const uint32_t device = uni(rng) < 0.8 ? g.device : static_cast<uint32_t>(rng() % 3);
      const uint32_t item = pick_item(g, ts, hour, device);
      g.last_item = item;
      add_event(u, item, ts, hour, device);
    }
  }
};

}  // namespace

Dataset generate(const GeneratorOptions& o) {
  Generation g(o);
  g.make_items();
  g.make_users();
  g.make_events();
  return std::move(g.ds);
}

}  // namespace streamrec::data
