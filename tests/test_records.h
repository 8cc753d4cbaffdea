// Catalog records the tests share.
#pragma once

#include <string>

#include "streamrec/store/catalog.h"

namespace streamrec::testing {

// A book with a price and a brand, in categories books and fiction, tagged paperback.
inline store::ItemRecord book(const std::string& id, double price, const std::string& brand) {
  store::ItemRecord r;
  r.id = id;
  r.attrs.title = "Book " + id;
  r.attrs.categories = {"books", "fiction"};
  r.attrs.tags = {"paperback"};
  r.attrs.numeric["price"] = price;
  r.fields["brand"] = brand;
  r.expires_at = 1'900'000'000;
  r.created_at = 1'800'000'000;
  return r;
}

}  // namespace streamrec::testing
