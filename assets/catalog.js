/* Catalog page, browser side: has the deployment's list of datasets changed? (routes/catalog.py) */
window.dash_clientside = window.dash_clientside || {};
window.dash_clientside.catalog = {
    // Resolves to the new ETag when /live/catalog changed, else leaves the store alone.
    check: async function (_ticks, config, etag) {
        var noUpdate = window.dash_clientside.no_update;
        if (!config || document.visibilityState === "hidden") { return noUpdate; }
        try {
            var headers = etag ? {"If-None-Match": etag} : {};
            var response = await fetch(config.url, {headers: headers, cache: "no-store", credentials: "same-origin"});
            if (response.status !== 200) { return noUpdate; }
            var tag = response.headers.get("ETag");
            // The first answer only records where the page stands: the cards came with the page.
            if (!etag) { return tag || noUpdate; }
            return tag && tag !== etag ? tag : noUpdate;
        } catch (error) {
            return noUpdate;
        }
    }
};
