// MovieLens (1M/10M '::', 100K tab/pipe, latest CSV) and MovieTweetings readers.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "streamrec/core/error.h"
#include "streamrec/core/text.h"
#include "streamrec/data/reader.h"

namespace streamrec::data {
namespace fs = std::filesystem;
namespace {

// MovieLens 1M ships Latin-1 titles, MovieTweetings UTF-8: use UTF-8 when the whole file
// is valid UTF-8, else Latin-1.
Encoding detect_encoding(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text::invalid_utf8_at(all) ? Encoding::kLatin1 : Encoding::kUtf8;
}

template <typename Fields>
void expect_fields(const Fields& f, size_t n, std::string_view layout) {
  if (f.size() != n)
    throw RowError(fmt::format("expected {} fields ({}), found {}", n, layout, f.size()));
}

void add_rating(Dataset& ds, std::string_view user, std::string_view item, double rating,
                int64_t ts) {
  Interaction e;
  e.user = ds.add_user(user);
  e.item = ds.add_item(item);
  e.value = static_cast<float>(rating);
  e.type = EventType::kRating;
  e.timestamp = ts;
  ds.events.push_back(e);
}

// A ratings file with one separator: user, item, rating, timestamp.
void read_ratings(Dataset& ds, const std::string& path, std::string_view sep, size_t header,
                  const ReadOptions& o, ImportReport& r) {
  LineReader reader(path);
  std::vector<std::string> csv_fields;
  const size_t rows = for_each_line(
      reader, o.on_error, r,
      [&](const std::string& line) {
        std::vector<std::string_view> f;
        if (sep == ",") {
          if (!split_csv(line, ',', csv_fields)) throw RowError("unterminated quoted field");
          f.assign(csv_fields.begin(), csv_fields.end());
        } else {
          f = text::split(line, sep);
        }
        expect_fields(f, 4, "user, item, rating, timestamp");
        const auto user = id_field(f[0], 0, "user");
        const auto item = id_field(f[1], 1, "item");
        const double rating = number_field(f[2], 2, "rating");
        const int64_t ts = int_field(f[3], 3, "timestamp");
        add_rating(ds, user, item, rating, ts);
      },
      header);
  require_rows(reader, rows);
  ds.explicit_ratings = true;
}

void set_title(ItemAttributes& a, std::string_view title) {
  a.title = std::string(text::trim(title));
  const int year = title_year(a.title);
  if (year > 0) a.numeric["year"] = year;
}

void set_genres(ItemAttributes& a, std::string_view genres) {
  a.categories.clear();
  for (auto g : text::split(genres, "|")) {
    g = text::trim(g);
    if (!g.empty() && g != "(no genres listed)") a.categories.emplace_back(g);
  }
}

}  // namespace

Dataset read_movielens_dat(const std::string& dir, const ReadOptions& o, ImportReport& r) {
  const fs::path d(dir);
  Dataset ds;
  read_ratings(ds, (d / "ratings.dat").string(), "::", 0, o, r);
  if (fs::exists(d / "movies.dat")) {
    const std::string path = (d / "movies.dat").string();
    LineReader reader(path, detect_encoding(path));
    for_each_line(reader, o.on_error, r, [&](const std::string& line) {
      const auto f = text::split(line, "::");
      expect_fields(f, 3, "movie id, title, genres");
      auto& a = ds.item_attrs[ds.add_item(id_field(f[0], 0, "movie id"))];
      set_title(a, f[1]);
      set_genres(a, f[2]);
    });
  }
  if (fs::exists(d / "users.dat")) {
    LineReader reader((d / "users.dat").string());
    for_each_line(reader, o.on_error, r, [&](const std::string& line) {
      const auto f = text::split(line, "::");
      expect_fields(f, 5, "user id, gender, age, occupation, zip");
      auto& a = ds.user_attrs[ds.add_user(id_field(f[0], 0, "user id"))];
      a.fields["gender"] = std::string(f[1]);
      a.numeric["age"] = number_field(f[2], 2, "age");
      a.fields["occupation"] = std::string(f[3]);
      a.fields["zip"] = std::string(f[4]);
    });
  }
  return ds;
}

Dataset read_ml100k(const std::string& dir, const ReadOptions& o, ImportReport& r) {
  const fs::path d(dir);
  Dataset ds;
  read_ratings(ds, (d / "u.data").string(), "\t", 0, o, r);
  // u.genre maps flag positions to names; fall back to the published 19 genres.
  std::vector<std::string> genres = {
      "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
      "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
      "Romance",     "Sci-Fi", "Thriller",  "War",       "Western"};
  if (fs::exists(d / "u.item")) {
    LineReader reader((d / "u.item").string(), Encoding::kLatin1);
    for_each_line(reader, o.on_error, r, [&](const std::string& line) {
      const auto f = text::split(line, "|");
      if (f.size() != 5 + genres.size())
        throw RowError(
            fmt::format("expected {} fields (id, title, date, video date, url, {} "
                        "genre flags), found {}",
                        5 + genres.size(), genres.size(), f.size()));
      auto& a = ds.item_attrs[ds.add_item(id_field(f[0], 0, "movie id"))];
      set_title(a, f[1]);
      for (size_t g = 0; g < genres.size(); ++g) {
        const auto flag = int_field(f[5 + g], 5 + g, genres[g]);
        if (flag != 0 && flag != 1) bad_field(5 + g, genres[g], f[5 + g], "expected 0 or 1");
        if (flag == 1 && g > 0) a.categories.push_back(genres[g]);
      }
    });
  }
  if (fs::exists(d / "u.user")) {
    LineReader reader((d / "u.user").string());
    for_each_line(reader, o.on_error, r, [&](const std::string& line) {
      const auto f = text::split(line, "|");
      expect_fields(f, 5, "user id, age, gender, occupation, zip");
      auto& a = ds.user_attrs[ds.add_user(id_field(f[0], 0, "user id"))];
      a.numeric["age"] = number_field(f[1], 1, "age");
      a.fields["gender"] = std::string(f[2]);
      a.fields["occupation"] = std::string(f[3]);
      a.fields["zip"] = std::string(f[4]);
    });
  }
  return ds;
}

Dataset read_movielens_csv(const std::string& dir, const ReadOptions& o, ImportReport& r) {
  const fs::path d(dir);
  Dataset ds;
  read_ratings(ds, (d / "ratings.csv").string(), ",", 1, o, r);
  std::vector<std::string> f;
  if (fs::exists(d / "movies.csv")) {
    LineReader reader((d / "movies.csv").string());
    for_each_line(
        reader, o.on_error, r,
        [&](const std::string& line) {
          if (!split_csv(line, ',', f)) throw RowError("unterminated quoted field");
          expect_fields(f, 3, "movieId, title, genres");
          auto& a = ds.item_attrs[ds.add_item(id_field(f[0], 0, "movieId"))];
          set_title(a, f[1]);
          set_genres(a, f[2]);
        },
        1);
  }
  if (fs::exists(d / "tags.csv")) {
    LineReader reader((d / "tags.csv").string());
    for_each_line(
        reader, o.on_error, r,
        [&](const std::string& line) {
          if (!split_csv(line, ',', f)) throw RowError("unterminated quoted field");
          expect_fields(f, 4, "userId, movieId, tag, timestamp");
          auto& a = ds.item_attrs[ds.add_item(id_field(f[1], 1, "movieId"))];
          std::string tag(text::trim(f[2]));
          for (auto& c : tag) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (!tag.empty() && std::find(a.tags.begin(), a.tags.end(), tag) == a.tags.end())
            a.tags.push_back(std::move(tag));
        },
        1);
  }
  return ds;
}

}  // namespace streamrec::data
