// cpp_user: C++ allocation paths under the shim: new/delete, new[]/delete[], aligned new, containers,
// and a leak through operator new from Registry::remember (5 Widgets of 200 bytes).
#include <cstdio>
#include <memory>
#include <new>
#include <string>
#include <vector>

struct Widget {
  char payload[200];
};

struct alignas(64) Aligned {
  char data[64];
};

class Registry {
 public:
  __attribute__((noinline)) void remember() {
    for (int i = 0; i < 5; i++) kept_.push_back(new Widget());  // never deleted: the leak
  }
  ~Registry() { /* forgets to delete kept_ */ }

 private:
  std::vector<Widget *> kept_;
};

int main() {
  for (int i = 0; i < 10000; i++) {
    auto w = std::make_unique<Widget>();
    std::vector<std::string> v(8, std::string(40 + i % 100, 'x'));
    int *arr = new int[16 + i % 64];
    delete[] arr;
    Aligned *a = new Aligned();
    delete a;
  }
  static Registry registry;
  registry.remember();
  std::puts("cpp_user: done");
  return 0;
}
