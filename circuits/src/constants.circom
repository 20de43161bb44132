// SPDX-License-Identifier: GPL-3.0
pragma circom 2.1.5;

// Protocol constants, equal to spec/01-notation-and-constants.md. The circuit tests compare
// every template that uses them with spec/vectors/, so a wrong digit here fails the tests.

// ASCII "zkcredits.state" as a big-endian integer.
function TAG_STATE() { return 635638313560795420947436358328218725; }

// ASCII "zkcredits.exit" as a big-endian integer.
function TAG_EXIT() { return 2482962162346857113075923040102772; }

// ASCII "zkcredits.ticket" as a big-endian integer.
function TAG_TICKET() { return 162723408271563627762543708784323945844; }

// G, hashed to the curve from "zkcredits/v1/generator/G" (counter 0).
function GENERATOR_G() {
    return [
        20143995420515144033654990789997470505715444962011739084532592088766200904141,
        1521783189028954610128137100043208299082440110003852480313569545071367317902
    ];
}

// N, hashed to the curve from "zkcredits/v1/generator/N" (counter 0).
function GENERATOR_N() {
    return [
        16232265297044835177472398208943843468997057315630836509402868319512243214593,
        15850979801288014280502529534837719263311992667987994027881583235392641287098
    ];
}

// T, hashed to the curve from "zkcredits/v1/generator/T" (counter 1).
function GENERATOR_T() {
    return [
        1547618570540988212069191196594917971946572776010447214609963360365758560502,
        10302439580659103466523700622110485066364070708715301275284422441689760874689
    ];
}

// H, hashed to the curve from "zkcredits/v1/generator/H" (counter 0).
function GENERATOR_H() {
    return [
        13967189662422931685093835339975456384243051443245823696798168888432084745106,
        18892233185880342583582180361894960992609025222848102486083986781106132179086
    ];
}
