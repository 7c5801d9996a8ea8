/* Chart page, browser side: the options panel's toggle (no server round trip). */
window.dash_clientside = window.dash_clientside || {};
window.dash_clientside.chart = {
    toggleOptions: function (clicks, isOpen) {
        return !isOpen;
    },
};
