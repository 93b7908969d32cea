// register.cpp: register a service, print its server list on every change for a few seconds.
//   register [server] [seconds]
#include <chrono>
#include <iostream>
#include <thread>

#include "ndsr.hpp"

int main(int argc, char **argv) {
    std::string server = argc > 1 ? argv[1] : "";
    int seconds = argc > 2 ? std::atoi(argv[2]) : 3;
    try {
        ndsr::Registry reg(server, {{"timeout_ms", "5000"}});
        reg.set_node("/services/cpp-demo/host1:8080", R"({"weight":10})");
        auto sub = reg.on_change("/services/cpp-demo", [](const std::string &path, const std::string &json) {
            std::cout << "change on " << path << ": " << json << std::endl;
        });
        std::this_thread::sleep_for(std::chrono::seconds(seconds));
    } catch (const ndsr::Error &e) {
        std::cerr << "error " << e.code() << ": " << e.what() << std::endl;
        return 1;
    }
    return 0;
}
